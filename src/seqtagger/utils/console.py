"""A quiet console: what a run prints is what its user reads, not its libraries' small print.

Known harmless messages are dropped where they arise, each by its own text, so that any other
warning still shows: Lightning's advertising tips, and the ``LeafSpec`` deprecation that
Lightning's own pytree helper triggers in torch on every fit and test. ``-q/--quiet`` and
``-v/--verbose`` set how much ``seqtagger-predict`` and ``seqtagger-eval`` say.
"""

from __future__ import annotations

import argparse
import logging
import warnings

from seqtagger.errors import ConfigError

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


# how much a command says on the console: -q errors only, -v more than by default
QUIET, NORMAL, VERBOSE = -1, 0, 1
QUIET_FLAGS, VERBOSE_FLAGS = ("-q", "--quiet"), ("-v", "--verbose")


def add_verbosity_flags(parser: argparse.ArgumentParser, quiet: str, verbose: str) -> None:
    """``-q/--quiet`` and ``-v/--verbose`` (one or the other) as ``args.verbosity``."""
    group = parser.add_mutually_exclusive_group()
    add = group.add_argument
    add(*QUIET_FLAGS, dest="verbosity", action="store_const", const=QUIET, help=quiet)
    add(*VERBOSE_FLAGS, dest="verbosity", action="store_const", const=VERBOSE, help=verbose)
    parser.set_defaults(verbosity=NORMAL)


def take_verbosity_flags(arguments: list[str]) -> tuple[int, list[str]]:
    """For a Hydra entry point, whose parser knows no such flags: the verbosity that
    ``arguments`` ask for, and the arguments without those flags. Both flags: a ConfigError."""
    quiet = [a for a in arguments if a in QUIET_FLAGS]
    verbose = [a for a in arguments if a in VERBOSE_FLAGS]
    if quiet and verbose:
        raise ConfigError(f"{quiet[0]} and {verbose[0]}: give one of them")
    rest = [a for a in arguments if a not in (*QUIET_FLAGS, *VERBOSE_FLAGS)]
    return (QUIET if quiet else VERBOSE if verbose else NORMAL), rest


def set_console_verbosity(verbosity: int) -> None:
    """Quiet: the console shows warnings and errors only (the log file keeps everything), no
    Python warnings, no progress bars of ``datasets``. Verbose: seqtagger's debug messages too."""
    if verbosity == NORMAL:
        return
    level = logging.WARNING if verbosity == QUIET else logging.DEBUG
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(
            handler, logging.FileHandler
        ):
            handler.setLevel(level)
    if verbosity == VERBOSE:
        logging.getLogger("seqtagger").setLevel(logging.DEBUG)
        return
    warnings.simplefilter("ignore")
    import datasets

    datasets.disable_progress_bars()
