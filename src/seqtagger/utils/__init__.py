"""Small helpers shared by the entry points: rank-aware logging, config plumbing, instantiation.

``RankedLogger`` is imported on first use: it needs Lightning, which ``seqtagger-predict``'s
``--help`` and option errors (through ``utils.cli``) should not wait for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from seqtagger.utils.lazy import lazy_exports

if TYPE_CHECKING:
    from seqtagger.utils.pylogger import RankedLogger

__all__ = ["RankedLogger"]

__getattr__, __dir__ = lazy_exports(__name__, {"RankedLogger": "pylogger"})
