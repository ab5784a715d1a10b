"""A ``POST /predict`` body, checked against the server's limits before it reaches the model.

    {"text": "Anna Smith visited Oslo. She met the Red Cross."}
    {"text": ["First document.", "Second one."], "sentence_per_line": true}
    {"tokens": [["EU", "rejects", "German", "call"], ["Anna"]], "scores": true}

``text``: raw text (a string, or a list of strings: each one or more documents), tokenised and
cut into sentences by the text API (``seqtagger.inference.text``); ``tokens``: sentences already
tokenised. ``scores``: each span's confidence. ``sentence_per_line`` (text only): each line is
one sentence. Every mistake is a :class:`RequestError`: its HTTP status and a message naming the
field; a request over a limit (:class:`Limits`) is refused with 413 before any tagging.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from seqtagger.inference.sentences import split_sentences
from seqtagger.inference.text import document_bounds
from seqtagger.inference.tokenizer import tokenize_with_offsets

FIELDS = ("text", "tokens", "scores", "sentence_per_line")
BAD_REQUEST, TOO_LARGE = 400, 413


@dataclass(frozen=True)
class Limits:
    """What one request may hold and take; the defaults are the command's."""

    max_body_bytes: int = 1 << 20
    max_sentences: int = 1000  # per request
    max_tokens: int = 1000  # per sentence
    max_chars: int = 100_000  # of a request's text, all its strings together
    timeout_s: float = 30.0  # from the request's arrival to its answer


class RequestError(Exception):
    """A request the server refuses: ``status`` (400, 413) and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Query:
    """One request's input: ``texts`` (raw text) or ``sentences`` (token lists), never both;
    ``size``: the sentences it holds (what a batch counts)."""

    texts: tuple[str, ...] | None
    sentences: tuple[tuple[str, ...], ...] | None
    scores: bool
    sentence_per_line: bool
    size: int

    @property
    def options(self) -> tuple[bool, bool, bool]:
        """What queries must share to be tagged in one call: input kind and flags."""
        return self.texts is not None, self.scores, self.sentence_per_line


def parse_query(body: bytes, limits: Limits) -> Query:
    """The query of a request body (JSON), or a ``RequestError`` naming what is wrong."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RequestError(BAD_REQUEST, f"the body is not valid JSON: {error}") from None
    if not isinstance(payload, dict):
        raise RequestError(
            BAD_REQUEST,
            f"the body is a JSON {_json_type(payload)}; expected an object with 'text' (raw "
            "text) or 'tokens' (a list of sentences, each a list of tokens)",
        )
    unknown = [name for name in payload if name not in FIELDS]
    if unknown:
        raise RequestError(
            BAD_REQUEST,
            f"unknown field {unknown[0]!r}; the fields are {', '.join(map(repr, FIELDS))}",
        )
    if ("text" in payload) == ("tokens" in payload):
        raise RequestError(
            BAD_REQUEST,
            "give one of 'text' (raw text) and 'tokens' (a list of sentences, each a list of "
            "tokens)",
        )
    scores, sentence_per_line = _flag(payload, "scores"), _flag(payload, "sentence_per_line")
    if "tokens" in payload:
        if sentence_per_line:
            raise RequestError(BAD_REQUEST, "sentence_per_line: only for 'text' (raw text)")
        sentences = _sentences(payload["tokens"])
        _check_sizes([len(sentence) for sentence in sentences], "tokens", limits)
        return Query(None, sentences, scores, False, len(sentences))
    texts = _texts(payload["text"], limits)
    lengths = sentence_lengths(texts, sentence_per_line)
    _check_sizes(lengths, "text", limits)
    return Query(texts, None, scores, sentence_per_line, len(lengths))


def sentence_lengths(texts: Sequence[str], sentence_per_line: bool) -> list[int]:
    """The tokens of each sentence the text API cuts ``texts`` into (documents at blank lines,
    then sentences, or lines with ``sentence_per_line``): what a text request asks of the
    model, known before it is queued."""
    lengths: list[int] = []
    for text in texts:
        for start, end in document_bounds(text):
            part = text[start:end]
            if sentence_per_line:
                counts = (len(tokenize_with_offsets(line)) for line in part.split("\n"))
                lengths += [count for count in counts if count]
            else:
                lengths += [len(s) for s in split_sentences(tokenize_with_offsets(part))]
    return lengths


def _flag(payload: dict[str, Any], name: str) -> bool:
    value = payload.get(name, False)
    if not isinstance(value, bool):
        raise RequestError(BAD_REQUEST, f"{name}: expected true or false, got {_shown(value)}")
    return value


def _texts(value: object, limits: Limits) -> tuple[str, ...]:
    """``text`` as a tuple of strings, within ``limits.max_chars``."""
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        raise RequestError(
            BAD_REQUEST, f"text: expected a string or a list of strings, got {_shown(value)}"
        )
    characters = sum(len(text) for text in texts)
    if characters > limits.max_chars:
        raise RequestError(
            TOO_LARGE,
            f"text: {characters:,} characters; this server takes at most {limits.max_chars:,} "
            "a request (--max-chars): send the text in parts",
        )
    return tuple(texts)


def _sentences(value: object) -> tuple[tuple[str, ...], ...]:
    """``tokens`` as a tuple of sentences, each a non-empty tuple of non-empty strings."""
    if not isinstance(value, list):
        raise RequestError(
            BAD_REQUEST,
            f"tokens: expected a list of sentences, each a list of tokens, got {_shown(value)}",
        )
    for index, sentence in enumerate(value):
        if not isinstance(sentence, list):
            raise RequestError(
                BAD_REQUEST,
                f"tokens[{index}]: expected a list of tokens (strings), got {_shown(sentence)}",
            )
        if not sentence:
            raise RequestError(BAD_REQUEST, f"tokens[{index}]: an empty sentence")
        for position, token in enumerate(sentence):
            if not isinstance(token, str) or not token:
                raise RequestError(
                    BAD_REQUEST,
                    f"tokens[{index}][{position}]: expected a non-empty string, got "
                    f"{_shown(token)}",
                )
    return tuple(tuple(sentence) for sentence in value)


def _check_sizes(lengths: list[int], field: str, limits: Limits) -> None:
    """Refuse (413) more sentences than ``max_sentences`` or a sentence over ``max_tokens``."""
    if len(lengths) > limits.max_sentences:
        raise RequestError(
            TOO_LARGE,
            f"{field}: {len(lengths):,} sentences; this server takes at most "
            f"{limits.max_sentences:,} a request (--max-sentences): send them in parts",
        )
    longest = max(lengths, default=0)
    if longest > limits.max_tokens:
        raise RequestError(
            TOO_LARGE,
            f"{field}: sentence {lengths.index(longest)} has {longest:,} tokens; this server "
            f"takes at most {limits.max_tokens:,} a sentence (--max-tokens)",
        )


def _json_type(value: object) -> str:
    names = {list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _shown(value: object) -> str:
    """``a JSON string "abc…"``: the JSON type and the start of the value, for messages."""
    text = json.dumps(value, ensure_ascii=False)
    return f"{_json_type(value)} {text[:40] + '…' if len(text) > 40 else text}"
