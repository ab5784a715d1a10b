"""The end of a hyperparameter search: a table of its trials, and which one won.

Each trial writes ``trial.json`` in its folder (its number, searched parameters, value, and the
reason when it failed); the search's Hydra callback (:class:`TrialTable`, set in the
``hparams_search`` configs) reads them all once the sweep is done, prints the table, says which
trial won, with its folder and best checkpoint, which trials tie with it and which failed, and
writes the same text to ``trials.txt`` in the sweep's folder. The files, not the sweeping
process's memory, carry the results: with the submitit launcher every trial runs in a job of
its own.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from seqtagger.utils.config import write_json

TRIAL_FILE = "trial.json"
TABLE_FILE = "trials.txt"


def trial_params(hydra_cfg: DictConfig | None) -> dict[str, str]:
    """The trial's searched parameters as given on its command line (``{"model.optimizer.lr":
    "0.003"}``); all its overrides when the sweeper names no ``params``."""
    if hydra_cfg is None:
        return {}
    pairs = [str(item).partition("=") for item in hydra_cfg.overrides.task]
    params = (hydra_cfg.get("sweeper") or {}).get("params") or {}
    found = {key.lstrip("+~"): value for key, _, value in pairs}
    searched = {key: value for key, value in found.items() if key in params}
    return searched or found


def write_trial(
    output_dir: Path, hydra_cfg: DictConfig | None, value: float, error: str | None = None
) -> Path:
    """Record a finished (or failed, with ``error``) trial in its folder."""
    number = int(hydra_cfg.job.num) if hydra_cfg is not None else 0
    finite = value if math.isfinite(value) else None  # JSON has no infinities
    record = {"trial": number, "params": trial_params(hydra_cfg), "value": finite}
    if error is not None:
        record["error"] = error
    return write_json(record, output_dir / TRIAL_FILE)


def read_trials(sweep_dir: Path) -> list[dict[str, Any]]:
    """The trial records of a sweep, by trial number; a trial folder without one (a trial that
    was killed, or a job still running) is a record with ``error`` saying so."""
    trials = []
    folders = [path for path in sweep_dir.iterdir() if path.is_dir() and path.name.isdigit()]
    for folder in sorted(folders, key=lambda path: int(path.name)):
        path = folder / TRIAL_FILE
        if path.is_file():
            record = json.loads(path.read_text(encoding="utf-8"))
        else:
            record = {"trial": int(folder.name), "params": {}, "value": None}
            record["error"] = f"no result ({TRIAL_FILE} missing: killed, or still running)"
        trials.append({**record, "folder": str(folder)})
    return trials


def best_checkpoint_in(folder: Path) -> Path | None:
    """A run folder's best checkpoint (``checkpoints/epoch_NNN.ckpt``), None when none."""
    found = sorted((folder / "checkpoints").glob("epoch_*.ckpt"))
    return found[-1] if found else None


def short(value: str) -> str:
    """A parameter as the table shows it: a float to 4 significant digits, else as given."""
    try:
        return f"{float(value):.4g}" if "." in value or "e" in value else value
    except ValueError:
        return value


def value_cell(trial: dict[str, Any]) -> str:
    """``0.9123``, ``failed``, or ``-`` (no value)."""
    if "error" in trial:
        return "failed"
    return "-" if trial["value"] is None else f"{trial['value']:.4f}"


def table_lines(trials: list[dict[str, Any]], metric: str) -> list[str]:
    """One row per trial: number, value (``failed`` for a failed trial), parameters, folder
    (in the sweep's folder)."""
    names = sorted({name for trial in trials for name in trial["params"]})
    header = ["trial", metric or "value", *names, "folder"]
    rows = [
        [
            str(trial["trial"]),
            value_cell(trial),
            *(short(str(trial["params"].get(name, ""))) for name in names),
            f"{Path(trial['folder']).name}/",
        ]
        for trial in trials
    ]
    widths = [max(len(row[index]) for row in [header, *rows]) for index in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def outcome_lines(trials: list[dict[str, Any]], maximize: bool) -> list[str]:
    """Which trial won (its folder and best checkpoint), which tie with it, which failed."""
    done = [t for t in trials if "error" not in t and t["value"] is not None]
    lines = [f"Failed: trial {t['trial']}: {t['error']}" for t in trials if "error" in t]
    if not done:
        return [*lines, "No trial finished: there is no best trial"]
    best_value = (max if maximize else min)(t["value"] for t in done)
    tied = [t for t in done if t["value"] == best_value]
    best = tied[0]
    checkpoint = best_checkpoint_in(Path(best["folder"])) or "none saved"
    lines.insert(0, f"Best: trial {best['trial']} ({best_value:.4f}), folder {best['folder']}")
    lines.insert(1, f"Best trial's checkpoint: {checkpoint}")
    if len(tied) > 1:
        numbers = ", ".join(str(t["trial"]) for t in tied)
        lines.insert(2, f"Tie: trials {numbers} score {best_value:.4f}; the first is named best")
    return lines


def search_summary(sweep_dir: Path, metric: str, maximize: bool) -> list[str]:
    """The table and the outcome of the search in ``sweep_dir``."""
    trials = read_trials(sweep_dir)
    head = f"Search in {sweep_dir}: {len(trials)} trials, {'max' if maximize else 'min'}imising"
    return [head, *table_lines(trials, metric), *outcome_lines(trials, maximize)]


class TrialTable(Callback):
    """Hydra callback: print and keep (``trials.txt``) the search's summary when it ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()  # folders a user can copy
        if not sweep_dir.is_dir():
            return
        from seqtagger.training.sweep import worst_value  # sweep records trials: imports us

        metric = str(config.get("optimized_metric") or "")
        lines = search_summary(sweep_dir, metric, maximize=worst_value(config.hydra) < 0)
        text = "\n".join(lines) + "\n"
        (sweep_dir / TABLE_FILE).write_text(text, encoding="utf-8")
        print(text, end="", flush=True)
