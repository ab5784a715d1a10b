"""The README's Results table from ``docs/results/<experiment>/seed*/{metrics,run}.json``.

    python scripts/results_table.py            # markdown rows, one per experiment

Each row: the headline test metric as mean ± sample standard deviation over the seeds found,
the epochs trained (best epoch), the mean wall time per run, the hardware and the command.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"


def runs_of(folder: Path) -> list[tuple[dict, dict]]:
    return [
        (
            json.loads((seed / "run.json").read_text()),
            json.loads((seed / "metrics.json").read_text()),
        )
        for seed in sorted(folder.glob("seed*"))
        if (seed / "run.json").is_file()
    ]


def row(experiment: str, runs: list[tuple[dict, dict]]) -> str:
    headline = runs[0][0]["headline"]
    values = [100 * metrics[headline] for _, metrics in runs]
    spread = statistics.stdev(values) if len(values) > 1 else float("nan")
    seeds = ",".join(str(run["seed"]) for run, _ in runs)
    epochs = ", ".join(f"{run['epochs_trained']} ({run['best_epoch']})" for run, _ in runs)
    wall = statistics.mean(run["wall_s"] for run, _ in runs) / 60
    command = runs[0][0]["command"].replace(f"seed={runs[0][0]['seed']}", f"seed={{{seeds}}}")
    return (
        f"| {experiment} | {headline} {statistics.mean(values):.2f} ± {spread:.2f} "
        f"(n={len(values)}: {', '.join(f'{v:.2f}' for v in values)}) | {epochs} | "
        f"{wall:.1f} min | {runs[0][0]['hardware']}; {runs[0][0]['note']} | `{command}` |"
    )


def main() -> None:
    columns = ["config", "test metric, mean ± std (runs)", "epochs (best)", "wall/run"]
    columns += ["hardware", "command"]
    print("| " + " | ".join(columns) + " |")
    print("|---" * len(columns) + "|")
    for folder in sorted(p for p in RESULTS.iterdir() if p.is_dir()):
        runs = runs_of(folder)
        if runs:
            print(row(folder.name, runs))


if __name__ == "__main__":
    main()
