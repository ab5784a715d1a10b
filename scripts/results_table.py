"""The README's Results table from ``docs/results/<experiment>/seed*/{metrics,run}.json``.

    python scripts/results_table.py              # markdown rows, one per experiment
    python scripts/results_table.py --ablations  # one row per ablation run, against its base
    python scripts/results_table.py --ablations ablations_gpu  # the same for another folder

Each row: the corpus, the headline test metric as mean ± sample standard deviation over the seeds
found, the published number beside it, the epochs trained (best epoch), the mean wall time per
run (each run's when they ran on different hardware), the hardware (each kind with its seeds) and
the command; then one line per run on how it ran (threads, what ran beside) and, for a run filed
under a recipe that now holds its overrides, the command as it ran.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"

# published numbers on the same test set, beside ours
ANCHORS = {
    "ud_ewt": "word+char BiLSTM on UD English, no pretrained vectors: 94.60",
    "ud_ewt_glove": "word+char BiLSTM on UD English with pretrained vectors: 95.04",
    "ud_ewt_minilm": "UDPipe 2 with mBERT: 97.29",
    "conll2003": "Lample et al. 2016 BiLSTM-CRF, random vectors: 83.63",
    "conll2003_glove": "Lample et al. 2016, pretrained vectors: 90.94; NCRF++, GloVe: 91.35",
    "conll2003_minilm": "BERT-base fine-tuned: about 91.3 to 92.4",
}


def anchor(experiment: str) -> str:
    """The published number for the experiment's corpus and kind of model."""
    corpus = "ud_ewt" if experiment.startswith("ud_ewt") else experiment.split("_")[0]
    fast = experiment.endswith(("cpu_fast", "gpu_fast"))  # the fast recipes use GloVe
    for kind in ("minilm", "glove"):
        if kind in experiment or (kind == "glove" and fast):
            return ANCHORS.get(f"{corpus}_{kind}", "")
    return ANCHORS.get(corpus, "")


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
    spread = f" ± {statistics.stdev(values):.2f}" if len(values) > 1 else " (one seed so far)"
    seeds = ",".join(str(run["seed"]) for run, _ in runs)
    epochs = ", ".join(f"{run['epochs_trained']} ({run['best_epoch']})" for run, _ in runs)
    command = runs[0][0]["command"].replace(f"seed={runs[0][0]['seed']}", f"seed={{{seeds}}}")
    corpus = "UD English-EWT UPOS" if experiment.startswith("ud_ewt") else "CoNLL-2003 NER"
    return (
        f"| {corpus} | {experiment} | {headline} {statistics.mean(values):.2f}{spread} "
        f"(n={len(values)}: {', '.join(f'{v:.2f}' for v in values)}) | {anchor(experiment)} | "
        f"{epochs} | {walls(runs)} | {hardware(runs)} | `{command}` |"
    )


def walls(runs: list[tuple[dict, dict]]) -> str:
    """The mean wall time per run; each run's when they ran on different hardware."""
    minutes = [run["wall_s"] / 60 for run, _ in runs]
    if len({run["hardware"] for run, _ in runs}) == 1:
        return f"{statistics.mean(minutes):.1f} min"
    return ", ".join(f"{m:.1f}" for m in minutes) + " min"


def hardware(runs: list[tuple[dict, dict]]) -> str:
    """The hardware, or each kind with the seeds that ran on it."""
    kinds: dict[str, list[str]] = {}
    for run, _ in runs:
        kinds.setdefault(run["hardware"], []).append(str(run["seed"]))
    if len(kinds) == 1:
        return next(iter(kinds))
    return "; ".join(f"seed {', '.join(seeds)}: {kind}" for kind, seeds in kinds.items())


def ablation_rows(folder_name: str = "ablations") -> None:
    """``docs/results/<folder_name>/<name>/seed*``: one row per run, against the base of its
    experiment (a run named ``*base``, else the first); the switch is what its command adds."""
    folder = RESULTS / Path(folder_name).name
    if not folder.is_dir():
        found = ", ".join(sorted(p.name for p in RESULTS.iterdir() if p.name.startswith("abl")))
        sys.exit(f"results_table.py: no folder {folder} (ablation folders: {found})")
    runs = [(name.name, *run) for name in sorted(folder.iterdir()) for run in runs_of(name)]
    print("| ablation | adds to the base command | test metric | delta | wall |")
    print("|---|---|---|---|---|")
    bases: dict[str, tuple[list[str], float]] = {}
    for name, run, metrics in sorted(runs, key=lambda r: not r[0].endswith("base")):
        words = run["command"].split()
        value = 100 * metrics[run["headline"]]
        corpus = next(w for w in words if w.startswith("experiment="))
        base_words, base_value = bases.setdefault(corpus, (words, value))
        switch = " ".join(w for w in words if w not in base_words) or "(base)"
        print(
            f"| {name} | `{switch}` | {run['headline']} {value:.2f} | "
            f"{value - base_value:+.2f} | {run['wall_s'] / 60:.1f} min |"
        )


def main() -> None:
    if "--ablations" in sys.argv:
        rest = sys.argv[sys.argv.index("--ablations") + 1 :]
        ablation_rows(*rest[:1])
        return
    columns = ["corpus", "config", "test metric, mean ± std (runs)", "published"]
    columns += ["epochs (best)", "wall/run"]
    columns += ["hardware", "command"]
    print("| " + " | ".join(columns) + " |")
    print("|---" * len(columns) + "|")
    for folder in sorted(p for p in RESULTS.iterdir() if p.is_dir()):
        runs = runs_of(folder)
        if runs:
            print(row(folder.name, runs))
    print("\nHow each run ran:")
    for folder in sorted(p for p in RESULTS.iterdir() if p.is_dir()):
        for run, _ in runs_of(folder):
            wall = f"{run['wall_s'] / 60:.1f} min"
            as_run = f" Ran as `{run['command_as_run']}`." if "command_as_run" in run else ""
            note = run["note"].rstrip(".")
            print(f"- {folder.name}, seed {run['seed']}: {wall}; {note}.{as_run}")


if __name__ == "__main__":
    main()
