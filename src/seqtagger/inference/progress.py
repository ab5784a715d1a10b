"""Progress of ``seqtagger-predict`` on stderr (stdout holds only predictions): sentences done
and sentences/s, as a rich bar on a terminal or a plain line now and then in a log file."""

from __future__ import annotations

import sys
import time
from typing import Any

from seqtagger.inference import PROG


class Progress:
    """Sentences done and sentences/s on stderr: a rich bar on a terminal (redrawn every 0.1 s),
    else a plain line every ``every_s`` seconds (a bar cannot redraw in a log file)."""

    def __init__(self, enabled: bool, every_s: float = 10.0) -> None:
        self.done = 0
        self.start = self.last = time.monotonic()
        self.enabled = enabled
        self.bar: Any = _rich_bar() if enabled and sys.stderr.isatty() else None
        self.task = self.bar.add_task("tagging", total=None) if self.bar else None
        self.every_s = 0.1 if self.bar else every_s

    def advance(self) -> None:
        """Count one sentence; refresh the display when it is due."""
        self.done += 1
        now = time.monotonic()
        if not self.enabled or now - self.last < self.every_s:
            return
        self.last = now
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done)
        else:
            line = f"{PROG}: {counted(self.done, 'sentence')}, {self.rate():,.0f}/s"
            print(line, file=sys.stderr)

    def rate(self) -> float:
        """Sentences per second since the start."""
        return self.done / max(time.monotonic() - self.start, 1e-9)

    def close(self) -> None:
        """Remove the bar (it is transient), if there is one."""
        if self.bar is not None:
            self.bar.stop()


def counted(count: int, noun: str) -> str:
    """``1 sentence``, ``2,000 sentences``: a count and its noun, singular for one."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _rich_bar() -> Any:
    from rich.console import Console
    from rich.progress import Progress as RichProgress
    from rich.progress import ProgressColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        # Mean since the start: rich's own task.speed averages its last 1000 updates only,
        # which here are one burst of sentences (a window is tagged before any is written).
        def render(self, task: Any) -> Text:
            rate = task.completed / max(task.elapsed or 0, 1e-9)
            return Text(f"{rate:,.0f} sentences/s", style="progress.data.speed")

    columns = (SpinnerColumn(), TextColumn("{task.completed:,.0f} sentences"), RateColumn())
    bar = RichProgress(*columns, TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    bar.start()
    return bar
