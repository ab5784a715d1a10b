"""Small helpers shared by the entry points: rank-aware logging, config plumbing, instantiation."""

from seqtagger.utils.pylogger import RankedLogger

__all__ = ["RankedLogger"]
