"""What a training run ends with: its result (metrics, run folder, best checkpoint) and the few
lines that say so on the console, where a user looks for them after the last epoch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from seqtagger.utils.pylogger import RankedLogger

log = RankedLogger(__name__, rank_zero_only=True)


@dataclass(frozen=True)
class RunResult:
    """A finished run: its final metrics (``test/...`` after a test, else the fit's), its folder
    and its best checkpoint (None when none was saved)."""

    metrics: dict[str, float]
    run_dir: Path
    best_checkpoint: Path | None = None
    test_metrics: dict[str, float] = field(default_factory=dict)


def summary_lines(result: RunResult) -> list[str]:
    """``Test: test/acc 0.9120, test/loss 0.3012`` (when tested: the overall scores, the
    per-class ones are in ``metrics.json``), ``Run folder: ...`` and ``Best checkpoint: ...``."""
    lines = []
    overall = {name: value for name, value in result.test_metrics.items() if name.count("/") == 1}
    if overall:
        lines.append(f"Test: {format_metrics(overall)}")
    lines.append(f"Run folder: {result.run_dir}")
    best = result.best_checkpoint if result.best_checkpoint is not None else "none saved"
    lines.append(f"Best checkpoint: {best}")
    return lines


def format_metrics(metrics: Mapping[str, float]) -> str:
    """``name value`` pairs in name order, four decimals."""
    return ", ".join(f"{name} {value:.4f}" for name, value in sorted(metrics.items()))


def log_summary(result: RunResult) -> None:
    """Log the end-of-run summary (rank zero)."""
    for line in summary_lines(result):
        log.info(line)
