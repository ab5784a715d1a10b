"""A rank-aware logger: messages appear once under DDP, or prefixed with the rank when asked.

Lightning's ``rank_zero_only`` decorator silences a whole function; a logger adapter lets one
module mix "once per job" messages with per-rank ones (as lightning-hydra-template does).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from lightning.pytorch.utilities import rank_zero_only


class RankedLogger(logging.LoggerAdapter):
    """A logger that prefixes messages with the process rank and can log on rank zero only."""

    def __init__(
        self,
        name: str = __name__,
        rank_zero_only: bool = True,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(logger=logging.getLogger(name), extra=extra)
        self.rank_zero_only = rank_zero_only

    def log(self, level: int, msg: str, *args: Any, rank: int | None = None, **kwargs: Any) -> None:
        """Log ``msg`` on rank zero (default), on every rank, or on the given ``rank`` only."""
        if not self.isEnabledFor(level):
            return
        current_rank = getattr(rank_zero_only, "rank", 0) or 0
        msg, kwargs = self.process(msg, kwargs)
        if self.rank_zero_only and rank is None:
            if current_rank == 0:
                self.logger.log(level, msg, *args, **kwargs)
            return
        if rank is None or current_rank == rank:
            self.logger.log(level, f"[rank: {current_rank}] {msg}", *args, **kwargs)


def remove_file_handlers() -> None:
    """Detach and close the root logger's file handlers (Hydra's ``train.log``).

    Under DDP every rank runs the same command with the same run folder; ranks other than zero
    call this so that the run holds one log, rank zero's. Their messages still reach the
    console (the terminal, or the SLURM job's output)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler):
            root.removeHandler(handler)
            handler.close()
