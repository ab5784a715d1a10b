"""Figures of an evaluation: the confusion matrix, the per-type F1 chart and the reliability
diagrams of the confidences, as PNG or arrays.

Plots use :class:`matplotlib.figure.Figure` with an explicit Agg canvas, never ``pyplot``, so
nothing touches global backend state (safe in DataLoader workers, DDP ranks and headless jobs).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from seqtagger.calibration.bins import Reliability
from seqtagger.metrics.report import normalize_rows

_MAX_ANNOTATED_LABELS = 30


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)  # explicit Agg canvas: no pyplot, no global backend
    return fig


def plot_confusion(matrix: np.ndarray, labels: Sequence[str], title: str = "") -> Figure:
    """Confusion matrix heat map: colour = row-normalised (recall per gold label), text = counts.

    Counts are written in the cells (zeros left blank) only up to 30 labels; the figure grows
    with the label count so tick labels stay readable.
    """
    matrix = np.asarray(matrix)
    k = len(labels)
    if matrix.shape != (k, k):
        raise ValueError(f"plot_confusion: matrix shape {matrix.shape} != ({k}, {k})")
    normed = normalize_rows(matrix)
    size = min(max(4.0, 0.45 * k + 2.5), 24.0)
    fig = _new_figure(size + 1.0, size)  # +1 inch for the colour bar
    ax = fig.add_subplot()
    image = ax.imshow(normed, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02, label="fraction of gold row")
    cell_pt = 72.0 * (size - 2.0) / max(k, 1)  # height of one cell in points
    tick_size = max(5.0, min(10.0, 0.6 * cell_pt))
    ax.set_xticks(range(k), labels=list(labels), rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(k), labels=list(labels))
    ax.tick_params(labelsize=tick_size)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    if title:
        ax.set_title(title)
    if 0 < k <= _MAX_ANNOTATED_LABELS:
        text_size = max(5.0, min(9.0, 0.4 * cell_pt))
        for (i, j), count in np.ndenumerate(matrix):
            if count:
                color = "white" if normed[i, j] > 0.5 else "black"
                ax.text(
                    j, i, str(int(count)), ha="center", va="center", color=color, fontsize=text_size
                )
    return fig


def plot_per_type_f1(per_type_f1: Mapping[str, float], title: str = "") -> Figure:
    """Horizontal bar chart of F1 per entity type, in mapping order top to bottom, annotated.

    Values may be fractions (0..1) or percentages (0..100, e.g. from conlleval); the axis and
    the labels follow whichever scale the values use.
    """
    names = list(per_type_f1)
    values = [float(per_type_f1[name]) for name in names]
    percent = any(v > 1.0 for v in values)
    scale = 100.0 if percent else 1.0
    fig = _new_figure(6.5, max(2.0, 0.35 * len(names) + 1.2))
    ax = fig.add_subplot()
    positions = range(len(names))
    bars = ax.barh(positions, values, color="tab:blue")
    ax.set_yticks(positions, labels=names)
    ax.invert_yaxis()
    ax.set_xlim(0.0, scale * 1.12)  # headroom for the value labels
    ax.set_xlabel("F1 (%)" if percent else "F1")
    ax.bar_label(bars, labels=[f"{v:.1f}" if percent else f"{v:.3f}" for v in values], padding=3)
    if not names:
        ax.text(0.5, 0.5, "no types", ha="center", va="center", transform=ax.transAxes)
    if title:
        ax.set_title(title)
    return fig


def plot_reliability(
    panels: Mapping[str, Reliability], columns: int = 2, title: str = ""
) -> Figure:
    """Reliability diagrams, one panel per entry of ``panels`` (its title -> its bins), in rows
    of ``columns``: each bin's accuracy as a bar over its confidence range, the diagonal a
    perfectly calibrated model follows, and the ECE in the panel's title. Empty bins have no
    bar."""
    names = list(panels)
    rows = max(1, -(-len(names) // columns))
    fig = _new_figure(3.4 * columns, 3.2 * rows + (0.3 if title else 0.0))
    for place, name in enumerate(names, start=1):
        reliability = panels[name]
        ax = fig.add_subplot(rows, columns, place)
        filled = [b for b in reliability.bins if b.count]
        ax.bar(
            [b.lower for b in filled],
            [b.accuracy for b in filled],
            width=[b.upper - b.lower for b in filled],
            align="edge",
            color="tab:blue",
            edgecolor="white",
            label="accuracy",
        )
        ax.plot([0.0, 1.0], [0.0, 1.0], linestyle="--", color="gray", label="calibrated")
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.0)
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        ece = "n/a" if reliability.ece is None else f"{reliability.ece:.4f}"
        ax.set_title(f"{name}\nECE {ece}, n={reliability.count:,}", fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def figure_to_png(fig: Figure, path: str | os.PathLike[str], dpi: int = 100) -> None:
    """Save ``fig`` as PNG at ``path`` (parent directories created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=dpi)


def figure_to_array(fig: Figure) -> np.ndarray:
    """Render ``fig`` to a uint8 RGB array (H, W, 3), for ``add_image(dataformats="HWC")``."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
