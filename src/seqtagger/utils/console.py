"""A quiet console: what a run prints is what its user reads, not its libraries' small print.

Known harmless messages are dropped where they arise, each by its own text, so that any other
warning still shows: Lightning's advertising tips, and the ``LeafSpec`` deprecation that
Lightning's own pytree helper triggers in torch on every fit and test.
"""

from __future__ import annotations

import logging
import warnings

# (category, message regex) of warnings that say nothing about the user's run
HARMLESS_WARNINGS = ((FutureWarning, r"`isinstance\(treespec, LeafSpec\)` is deprecated"),)
# Lightning logs its tips through this logger, beside messages worth reading (devices, seeds)
LIGHTNING_INFO_LOGGER = "lightning.pytorch.utilities.rank_zero"
TIP_PREFIX = "💡 Tip"


class DropTips(logging.Filter):
    """Drop Lightning's "💡 Tip: ... try installing ..." advertisements."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(TIP_PREFIX)


def quiet_known_noise() -> None:
    """Filter the harmless warnings and Lightning's tips (idempotent)."""
    for category, message in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    lightning_logger = logging.getLogger(LIGHTNING_INFO_LOGGER)
    if not any(isinstance(item, DropTips) for item in lightning_logger.filters):
        lightning_logger.addFilter(DropTips())
