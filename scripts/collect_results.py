"""Copy a finished training run's ``metrics.json`` under ``docs/results/`` with what produced it.

    python scripts/collect_results.py logs/train/runs/NAME --wall-s 912 --note "1 thread"

Writes ``docs/results/<experiment>/seed<seed>/metrics.json`` (the run's own file, unchanged) and
``run.json`` beside it: the command as run (from ``.hydra/overrides.yaml``), the headline metric,
epochs trained, the best (checkpointed) epoch, wall time and hardware. ``results_table.py`` turns
these into the README's Results table, so every number there is backed by a file here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
from pathlib import Path

import torch
import yaml

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def epochs_trained(run: Path) -> int:
    found = re.findall(r"epoch (\d+)/\d+:", (run / "train.log").read_text())
    return int(found[-1]) if found else 0


def best_epoch(run: Path) -> int | None:
    names = sorted((run / "checkpoints").glob("epoch_*.ckpt"))
    return int(names[-1].stem.split("_")[1]) + 1 if names else None


def this_machine() -> str:
    return f"{cpu_name()}, {os.cpu_count()} cores, no GPU, torch {torch.__version__}"


def collect(
    run: Path,
    wall_s: float,
    note: str,
    experiment: str | None = None,
    hardware: str | None = None,
) -> Path:
    overrides = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text())
    config = yaml.safe_load((run / "config.yaml").read_text())
    named = next(o.split("=", 1)[1] for o in overrides if o.startswith("experiment="))
    experiment = experiment or named
    args = [o for o in overrides if not o.startswith("run_name=")]
    target = RESULTS / experiment / f"seed{config['seed']}"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run / "metrics.json", target / "metrics.json")
    record = {
        "experiment": experiment,
        "seed": config["seed"],
        "command": "seqtagger-train " + " ".join(args),
        "headline": f"test/{config['data']['headline']}",
        "epochs_trained": epochs_trained(run),
        "max_epochs": config["trainer"]["max_epochs"],
        "best_epoch": best_epoch(run),
        "wall_s": round(wall_s, 1),
        "hardware": hardware or this_machine(),
        "note": note,
    }
    (target / "run.json").write_text(json.dumps(record, indent=2) + "\n")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="the run folder (logs/train/runs/NAME)")
    parser.add_argument("--wall-s", type=float, required=True, help="the command's wall time")
    parser.add_argument("--note", default="", help="how it ran (threads, what ran beside it)")
    parser.add_argument(
        "--experiment", help="file the run under this experiment (its config must equal the run's)"
    )
    parser.add_argument(
        "--hardware", help="where it ran, for a run made on another machine (default: this one)"
    )
    args = parser.parse_args()
    print(collect(args.run, args.wall_s, args.note, args.experiment, args.hardware))


if __name__ == "__main__":
    main()
