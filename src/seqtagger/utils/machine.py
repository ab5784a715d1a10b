"""What a run ran on, in words: devices, CPU, software versions; and durations as people read
them. For the records runs leave (``MODEL_CARD.md``)."""

from __future__ import annotations

import os
import platform
import sys

import lightning
import torch
from lightning import Trainer

import seqtagger


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what ``platform`` knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_lines(trainer: Trainer) -> list[str]:
    """``- Devices: ...``, ``- CPU: ...``, ``- Software: ...`` (Markdown list items)."""
    device = trainer.strategy.root_device
    kind = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type.upper()
    return [
        f"- Devices: {trainer.num_devices} x {kind} on {trainer.num_nodes} node(s), precision "
        f"{trainer.precision}",
        f"- CPU: {cpu_name()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}",
        f"- Software: seqtagger {seqtagger.__version__}, torch {torch.__version__}, lightning "
        f"{lightning.__version__}, Python {platform.python_version()}, {sys.platform}",
    ]


def duration(seconds: float) -> str:
    """``42 s``, ``3 min 12 s``, ``2 h 05 min``."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
