"""Tagging new text with a trained checkpoint: what only inference uses.

``predictor`` (:class:`Predictor`, the Python API), ``text`` (its raw-text API: documents,
sentences, tokens and spans with character offsets), ``streaming`` (bounded-window batching in
input order), ``tokenizer`` (the simple raw-text tokenizer), ``sentences`` (sentence splitting),
``scores`` (span scores), and the parts of
``seqtagger-predict``: ``inputs`` (input formats, detection, reading), ``outputs`` (CoNLL and
JSONL writing, the output file) and ``progress``. :class:`Predictor` is imported on first use, so
that ``seqtagger-predict`` loads its input readers without torch for ``--help`` and option errors.

    from seqtagger.inference import Predictor
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from seqtagger.utils.lazy import lazy_exports

if TYPE_CHECKING:
    from seqtagger.inference.predictor import Predictor

__all__ = ["PROG", "Predictor"]

PROG = "seqtagger-predict"  # the command, as its messages on stderr name it

__getattr__, __dir__ = lazy_exports(__name__, {"Predictor": "predictor"})
