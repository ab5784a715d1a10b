"""The text API: raw text in; documents, sentences, tokens and spans with character offsets out.

    predictor = Predictor.from_checkpoint("best.ckpt")
    for document in predictor("Anna Smith visited Oslo. She met the Red Cross."):
        for span in document.spans:
            print(span.start, span.end, span.text, span.label)

A string is cut into documents at blank lines; each item of a list of strings is a document (or
several, at its blank lines). Each document is tokenised with character offsets
(:func:`~seqtagger.inference.tokenizer.tokenize_with_offsets`), cut into sentences
(:mod:`~seqtagger.inference.sentences`; ``sentence_per_line=True``: one line, one sentence) and
tagged by :meth:`Predictor.predict` with its document id, so a model with document context or a
document memory reads each document as a whole, as in training. Every ``start``/``end`` is a
character offset into the input string the document comes from (``source``: its index in the
list, 0 for a string): ``text[start:end]`` is the token's or span's own text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from seqtagger.data.schemes import get_spans
from seqtagger.errors import ConfigError
from seqtagger.inference.scores import span_score
from seqtagger.inference.sentences import split_sentences
from seqtagger.inference.tokenizer import tokenize_with_offsets

if TYPE_CHECKING:
    from seqtagger.inference.predictor import Predictor

__all__ = ["Document", "Sentence", "Span", "Token", "tag_text"]

_BLANK_LINES = re.compile(r"\n[^\S\n]*\n\s*")  # a blank line (maybe with spaces) and what follows


@dataclass
class Token:
    """One token: its text, its character offsets (``end`` exclusive) and its tag."""

    text: str
    start: int
    end: int
    tag: str


@dataclass
class Span:
    """An entity: character offsets (``end`` exclusive), the input's own ``text``, its label.
    ``score``: its confidence, with ``scores=True`` (:mod:`seqtagger.inference.scores`: the
    least probability of its tokens' tags); ``None``: not computed."""

    start: int
    end: int
    text: str
    label: str
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; without ``score`` when none was computed."""
        record = asdict(self)
        if self.score is None:
            del record["score"]
        return record


@dataclass
class Sentence:
    """A sentence: character offsets, the input's slice, its tokens and its spans."""

    start: int
    end: int
    text: str
    tokens: list[Token]
    spans: list[Span] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, spans by :meth:`Span.to_dict`."""
        record = asdict(self)
        record["spans"] = [span.to_dict() for span in self.spans]
        return record


@dataclass
class Document:
    """A document: which input it comes from (``source``), its character offsets in that input,
    its text and its sentences."""

    source: int
    start: int
    end: int
    text: str
    sentences: list[Sentence]

    @property
    def spans(self) -> list[Span]:
        """The spans of all its sentences, in order."""
        return [span for sentence in self.sentences for span in sentence.spans]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, sentences by :meth:`Sentence.to_dict`."""
        record = {key: getattr(self, key) for key in ("source", "start", "end", "text")}
        record["sentences"] = [sentence.to_dict() for sentence in self.sentences]
        return record


def tag_text(
    predictor: Predictor,
    texts: str | Sequence[str],
    *,
    sentence_per_line: bool = False,
    scores: bool = False,
) -> list[Document]:
    """The tagged documents of ``texts`` (one string or a list of them), in input order; with
    ``scores``, each span's ``score`` (:func:`~seqtagger.inference.scores.span_score` of
    :meth:`Predictor.predict_scored`'s token scores)."""
    if isinstance(texts, str):
        texts = [texts]
    elif not isinstance(texts, Sequence) or not all(isinstance(t, str) for t in texts):
        raise ConfigError(f"Predictor: expected a str or a list of str, got {texts!r:.60}")
    bounds = _bounds(texts)
    documents = [
        _segment(texts[source], start, end, sentence_per_line) for source, start, end in bounds
    ]
    sentences = [tokens for document in documents for tokens in document]
    ids = [number for number, document in enumerate(documents, 1) for _ in document]
    words = [[t[0] for t in tokens] for tokens in sentences]
    if scores:
        results = iter(predictor.predict_scored(words, ids))
    else:
        results = ((tags, None) for tags in predictor.predict(words, ids))
    out = []
    for (source, start, end), document in zip(bounds, documents, strict=True):
        text = texts[source]
        tagged = [_sentence(predictor, text, tokens, *next(results)) for tokens in document]
        out.append(Document(source, start, end, texts[source][start:end], tagged))
    return out


def document_bounds(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each document of ``text``: its parts between blank lines, without
    their leading and trailing whitespace; none in a text of whitespace only."""
    bounds = []
    position = 0
    for match in (*_BLANK_LINES.finditer(text), None):
        end = match.start() if match else len(text)
        part = text[position:end]
        if part.strip():
            left = len(part) - len(part.lstrip())
            bounds.append((position + left, position + len(part.rstrip())))
        position = match.end() if match else len(text)
    return bounds


def _bounds(texts: Sequence[str]) -> list[tuple[int, int, int]]:
    """``(source, start, end)`` of every document of ``texts``, in order."""
    return [
        (source, *bound) for source, text in enumerate(texts) for bound in document_bounds(text)
    ]


def _segment(
    text: str, start: int, end: int, sentence_per_line: bool
) -> list[list[tuple[str, int, int]]]:
    """The sentences of ``text[start:end]`` as ``(token, start, end)`` lists, offsets into
    ``text``."""
    if sentence_per_line:
        lines = [(m.start(), m.group()) for m in re.finditer(r"[^\n]+", text[start:end])]
        return [
            _shifted(tokens, start + at)
            for at, line in lines
            if (tokens := tokenize_with_offsets(line))
        ]
    return split_sentences(_shifted(tokenize_with_offsets(text[start:end]), start))


def _shifted(tokens: list[tuple[str, int, int]], by: int) -> list[tuple[str, int, int]]:
    return [(token, start + by, end + by) for token, start, end in tokens]


def _sentence(
    predictor: Predictor,
    text: str,
    tokens: list[tuple[str, int, int]],
    tags: list[str],
    token_scores: list[float] | None,
) -> Sentence:
    """One tagged sentence, its spans' offsets from their first and last tokens (and their
    scores from the tokens' scores, when given)."""
    words = [
        Token(token, start, end, tag) for (token, start, end), tag in zip(tokens, tags, strict=True)
    ]
    spans = []
    if predictor.scheme != "plain":
        for span in get_spans(tags, predictor.scheme):
            start, end = words[span.start].start, words[span.end - 1].end
            scored = token_scores is not None
            score = span_score(token_scores, span.start, span.end) if scored else None
            spans.append(Span(start, end, text[start:end], span.type, score))
    start, end = words[0].start, words[-1].end
    return Sentence(start, end, text[start:end], words, spans)
