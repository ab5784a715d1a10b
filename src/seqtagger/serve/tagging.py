"""One batch of queries through the :class:`~seqtagger.inference.Predictor`, in one call.

Queries that share their options (``Query.options``) are tagged together: their texts go to the
text API as one list (``tag_text``; each string its own documents, so no context or document
memory crosses from one request to another), their token lists to ``Predictor.predict`` with
one document id per request. Every request gets the text API's documents back:

- raw text: the text API's own documents, ``source`` renumbered within the request;
- tokens: one document whose ``text`` is the sentences one a line, the tokens of each joined by
  one space; every ``start``/``end`` is an offset into it, so ``text[start:end]`` is the token's
  or span's text as for raw text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from seqtagger.inference.text import Document, Sentence, Span, Token, tag_text
from seqtagger.serve.queries import Query

if TYPE_CHECKING:
    from seqtagger.inference import Predictor


def tag_queries(predictor: Predictor, queries: Sequence[Query]) -> list[list[Document]]:
    """The documents of each query, in order; the queries share their ``options``."""
    if len({query.options for query in queries}) > 1:
        raise ValueError("tag_queries: the queries of one call must share their options")
    if queries[0].texts is not None:
        return _tag_texts(predictor, queries)
    return _tag_tokens(predictor, queries)


def _tag_texts(predictor: Predictor, queries: Sequence[Query]) -> list[list[Document]]:
    texts = [text for query in queries for text in query.texts or ()]
    owner = [number for number, query in enumerate(queries) for _ in query.texts or ()]
    first_source = {number: owner.index(number) for number in set(owner)}
    first = queries[0]
    tagged = tag_text(
        predictor, texts, sentence_per_line=first.sentence_per_line, scores=first.scores
    )
    documents: list[list[Document]] = [[] for _ in queries]
    for document in tagged:
        number = owner[document.source]
        documents[number].append(replace(document, source=document.source - first_source[number]))
    return documents


def _tag_tokens(predictor: Predictor, queries: Sequence[Query]) -> list[list[Document]]:
    sentences = [list(sentence) for query in queries for sentence in query.sentences or ()]
    ids = [number for number, query in enumerate(queries, 1) for _ in query.sentences or ()]
    if queries[0].scores:
        results = iter(predictor.predict_scored(sentences, ids))
    else:
        results = ((tags, None) for tags in predictor.predict(sentences, ids))
    documents = []
    for query in queries:
        given = query.sentences or ()
        tagged = [(sentence, *next(results)) for sentence in given]
        documents.append([tokens_document(predictor, tagged)] if given else [])
    return documents


def tokens_document(
    predictor: Predictor,
    tagged: Sequence[tuple[Sequence[str], list[str], list[float] | None]],
) -> Document:
    """One document of tagged token lists ``(tokens, tags, scores or None)``: its text is the
    sentences one a line, tokens joined by one space; spans from ``Predictor.spans``."""
    text = "\n".join(" ".join(tokens) for tokens, _, _ in tagged)
    position = 0
    sentences = []
    for tokens, tags, scores in tagged:
        words = []
        for token, tag in zip(tokens, tags, strict=True):
            words.append(Token(token, position, position + len(token), tag))
            position += len(token) + 1  # the space or newline after it
        spans = []
        for record in predictor.spans(tokens, tags, scores):
            start, end = words[record["start"]].start, words[record["end"] - 1].end
            spans.append(Span(start, end, text[start:end], record["type"], record.get("score")))
        start, end = words[0].start, words[-1].end
        sentences.append(Sentence(start, end, text[start:end], words, spans))
    return Document(0, 0, len(text), text, sentences)
