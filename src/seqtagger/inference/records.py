"""What every prediction backend shares without torch: checking the sentences it is given,
choosing the tasks and output schemes, and turning spans into records.

``Predictor`` (PyTorch) and ``OnnxPredictor`` (onnxruntime) both use these, so their inputs are
refused alike and their outputs are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from seqtagger.data.schemes import Span, check_scheme, label_types, scheme_labels
from seqtagger.data.tasks import Task
from seqtagger.errors import ConfigError

__all__ = [
    "OUTPUT_SCHEME",
    "check_sentence",
    "output_labels",
    "output_scheme",
    "select_tasks",
    "span_record",
]

EXPECTED_SHAPE = "expected list[list[str]], e.g. [['EU', 'rejects', 'German', 'call']]"
OUTPUT_SCHEME = "iob2"
"""The default output scheme of span tasks: what Hugging Face, spaCy and most tools read."""


def select_tasks(tasks: Sequence[Task], names: Sequence[str] | None) -> list[Task]:
    """The model's tasks named by ``names`` (in the model's order); all for ``None``."""
    if names is None:
        return list(tasks)
    known = [task.name for task in tasks]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise ConfigError(
            f"tasks={list(names)}: the model's tasks are {', '.join(known)} (name one or more)"
        )
    return [task for task in tasks if task.name in names]


def output_scheme(task: Task, scheme: str | None, primary: bool) -> str:
    """The scheme a task's tags come out in: ``scheme`` for a span task (default:
    :data:`OUTPUT_SCHEME`), plain for a tag set without spans. The primary task takes ``scheme``
    as given, so a scheme that does not fit it is refused (``seqtagger-predict``); the others
    keep theirs."""
    default = OUTPUT_SCHEME if task.has_spans else "plain"
    if primary:
        return check_scheme(scheme or default)
    if not task.has_spans:
        return "plain"
    return check_scheme(scheme if scheme and scheme != "plain" else default)


def output_labels(labels: Sequence[str], scheme: str) -> list[str]:
    """Every tag a task with these model ``labels`` outputs in ``scheme``: ``O`` first, then
    each type's prefixes; a task without spans (``plain``) outputs its labels."""
    if scheme == "plain":
        return list(labels)
    return scheme_labels(label_types(labels), scheme)


def check_sentence(sentence: object, position: int) -> Sequence[str]:
    """``sentence`` when it is a sequence of ``str`` tokens, else a ``ConfigError`` naming it.

    Without this check a string is tagged character by character, ``bytes`` tokens all become
    ``<unk>`` and numbers fail deep inside collation.
    """
    if isinstance(sentence, (str, bytes)) or not isinstance(sentence, Sequence):
        raise ConfigError(
            f"Predictor: sentence {position} is {_describe(sentence)}, not a list of tokens; "
            f"{EXPECTED_SHAPE}"
        )
    for index, token in enumerate(sentence):
        if not isinstance(token, str):
            raise ConfigError(
                f"Predictor: token {index} of sentence {position} is {_describe(token)}, "
                f"not a str; {EXPECTED_SHAPE}"
            )
    return sentence


def _describe(value: object) -> str:
    """``str 'EU rejects…'``: the type and the start of the value, for error messages."""
    text = repr(value)
    return f"{type(value).__name__} {text[:40] + '…' if len(text) > 40 else text}"


def span_record(span: Span, tokens: Sequence[str]) -> dict[str, Any]:
    """A JSON-ready span: ``end`` is exclusive, ``text`` joins its tokens with spaces."""
    return {
        "type": span.type,
        "start": span.start,
        "end": span.end,
        "text": " ".join(tokens[span.start : span.end]),
    }
