"""The recipes' results, from the runs committed under ``docs/results/``.

    python -m tools.results_table                 # write docs/results.md and the README's table
    python -m tools.results_table --check         # exit 1 when either is not what the files give
    python -m tools.results_table --ablations h100   # print one ablation folder's table

A recipe's runs are ``docs/results/<recipe>/seed<N>/{metrics,run}.json``: ``metrics.json`` is the
run's own file, ``run.json`` its command, epochs, wall time, hardware and conditions
(``python -m tools.collect_results`` writes both). Every number on the page and in the README's
table is computed here from those files, so the two are rewritten, never edited by hand.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
PAGE = ROOT / "docs" / "results.md"
README = ROOT / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"

# published numbers on the same test sets, beside ours
ANCHORS = {
    "ud_ewt": "word+char BiLSTM on UD English, no pretrained vectors: 94.60",
    "ud_ewt_glove": "word+char BiLSTM on UD English with pretrained vectors: 95.04",
    "ud_ewt_minilm": "UDPipe 2 with mBERT: 97.29",
    "conll2003": "Lample et al. 2016 BiLSTM-CRF, random vectors: 83.63",
    "conll2003_glove": "Lample et al. 2016, pretrained vectors: 90.94; NCRF++, GloVe: 91.35",
    "conll2003_minilm": "BERT-base fine-tuned: about 91.3 to 92.4",
}
METRIC_NAMES = {"test/acc": "accuracy", "test/f1": "span F1"}
ABLATIONS = {
    "cpu_4_epochs": "A screen on 2 CPU cores: one seed, 4 epochs, a 2x128 BiLSTM, each run the "
    "base command plus one switch. A short schedule favours what speeds up early learning and "
    "penalises regularisers, and the screen's seed-to-seed spread is not measured.",
    "cpu_20_epochs": "A switch from the screen checked over the recipe's full schedule, against "
    "the recipe of that time on the same seed.",
    "h100": "Variants of the GPU recipes on one H100, one seed each. The bases are seed 1 of the "
    "recipes of that time and the variants ran with seed 42, so a delta mixes the switch with "
    "the seed; the variants were ranked on dev, not on these test numbers.",
}


@dataclass(frozen=True)
class Run:
    """One committed run: its ``run.json`` record and its ``metrics.json``."""

    record: dict
    metrics: dict

    @classmethod
    def read(cls, folder: Path) -> Run:
        return cls(
            json.loads((folder / "run.json").read_text()),
            json.loads((folder / "metrics.json").read_text()),
        )

    @property
    def value(self) -> float:
        """The headline test metric in percent."""
        return 100 * self.metrics[self.record["headline"]]

    @property
    def layers(self) -> dict[str, float]:
        """Each task's test metric in percent for a run of several tasks (``test/<task>/f1`` for
        span layers, else ``test/<task>/acc``); empty for one task."""
        # each task of several logs test/<task>/loss; one task logs test/loss alone
        names = [k.split("/")[1] for k in self.metrics if k.count("/") == 2 and k.endswith("/loss")]
        known = list(LAYER_NAMES)
        found = {}
        for task in sorted(names, key=lambda n: known.index(n) if n in known else len(known)):
            for metric in ("f1", "acc"):
                if f"test/{task}/{metric}" in self.metrics and task not in found:
                    found[task] = 100 * self.metrics[f"test/{task}/{metric}"]
        return found

    @property
    def minutes(self) -> float:
        return self.record["wall_s"] / 60

    @property
    def epochs(self) -> str:
        return f"{self.record['epochs_trained']} ({self.record['best_epoch']})"


def runs_of(folder: Path) -> list[Run]:
    """The runs in ``folder/seed*/``, by seed folder name."""
    seeds = sorted(folder.glob("seed*"), key=lambda seed: int(seed.name[4:] or 0))
    return [Run.read(seed) for seed in seeds if (seed / "run.json").is_file()]


def recipes() -> dict[str, list[Run]]:
    """Every recipe folder at the top of ``docs/results/`` with its runs."""
    folders = sorted(p for p in RESULTS.iterdir() if p.is_dir())
    found = {folder.name: runs_of(folder) for folder in folders}
    return {name: runs for name, runs in found.items() if runs}


def anchor(recipe: str) -> str:
    """The published number for the recipe's corpus and kind of model (UPOS or NER alone)."""
    if any(f"_{layer}_" in f"{recipe}_" for layer in ("xpos", "feats", "joint")):
        return ""
    corpus = "ud_ewt" if recipe.startswith("ud_ewt") else recipe.split("_")[0]
    fast = recipe.endswith(("cpu_fast", "gpu_fast"))  # the fast recipes use GloVe
    for kind in ("minilm", "glove"):
        if kind in recipe or (kind == "glove" and fast):
            return ANCHORS.get(f"{corpus}_{kind}", "")
    return ANCHORS.get(corpus, "")


LAYER_NAMES = {
    "upos": "UPOS",
    "xpos": "XPOS",
    "feats": "UFeats",
    "ner": "NER",
    "pos": "POS",
    "chunk": "chunks",
}


def corpus_of(recipe: str, runs: list[Run] | None = None) -> str:
    """The corpus and the layers the recipe learns (several for a joint recipe)."""
    corpus = "UD English-EWT" if recipe.startswith("ud_ewt") else "CoNLL-2003"
    layers = list(runs[0].layers) if runs else []
    if layers:
        return f"{corpus} {' + '.join(LAYER_NAMES.get(name, name) for name in layers)}"
    single = next((LAYER_NAMES[n] for n in ("xpos", "feats") if f"_{n}_" in f"{recipe}_"), None)
    return f"{corpus} {single or ('UPOS' if corpus.startswith('UD') else 'NER')}"


def mean_spread(values: list[float]) -> str:
    spread = f" ± {statistics.stdev(values):.2f}" if len(values) > 1 else ""
    return f"{statistics.mean(values):.2f}{spread}"


def score(runs: list[Run]) -> str:
    """Mean ± sample standard deviation of the headline metric over the runs; of each layer's
    for a recipe of several tasks."""
    if runs[0].layers:
        return ", ".join(
            f"{LAYER_NAMES.get(task, task)} {mean_spread([run.layers[task] for run in runs])}"
            for task in runs[0].layers
        )
    metric = METRIC_NAMES.get(runs[0].record["headline"], runs[0].record["headline"])
    return f"{metric} {mean_spread([run.value for run in runs])}"


def seeds(runs: list[Run]) -> str:
    return ", ".join(str(run.record["seed"]) for run in runs)


def counted_seeds(runs: list[Run]) -> str:
    """'seed 42' or 'seeds 1, 2, 3'."""
    return f"seed{'s' if len(runs) > 1 else ''} {seeds(runs)}"


def short_hardware(hardware: str) -> str:
    """'one H100' or '2 CPU cores': what a reader compares wall times by."""
    if "H100" in hardware:
        return "one H100"
    cores = hardware.split(" cores")[0].rsplit(", ", 1)[-1]
    return f"{cores} CPU cores"


def hardware_of(runs: list[Run], describe=lambda hardware: hardware) -> str:
    """The hardware, or each kind with the seeds that ran on it."""
    kinds: dict[str, list[str]] = {}
    for run in runs:
        kinds.setdefault(describe(run.record["hardware"]), []).append(str(run.record["seed"]))
    if len(kinds) == 1:
        return next(iter(kinds))
    return "; ".join(f"{kind} (seed {', '.join(names)})" for kind, names in kinds.items())


def walls(runs: list[Run]) -> str:
    """The mean wall time per run; each run's when they ran on different hardware."""
    if len({run.record["hardware"] for run in runs}) == 1:
        return f"{statistics.mean(run.minutes for run in runs):.1f} min"
    return ", ".join(f"{run.minutes:.1f}" for run in runs) + " min"


def table(columns: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def readme_block(found: dict[str, list[Run]]) -> str:
    """The README's table: one row per recipe, linking to its section of the results page."""
    rows = [
        [
            corpus_of(name, runs),
            f"[`{name}`](docs/results.md#{name})",
            f"{score(runs)} ({len(runs)} {'seed' if len(runs) == 1 else 'seeds'})",
            anchor(name),
            hardware_of(runs, short_hardware),
        ]
        for name, runs in found.items()
    ]
    columns = ["task", "recipe", "test score, mean ± std", "published", "hardware"]
    note = (
        "Test sets with gold tokenisation; mean ± sample standard deviation over the seeds. "
        "Each recipe's runs, commands and conditions: [Recipes and results](docs/results.md)."
    )
    return "\n".join([START, *table(columns, rows), "", note, END])


def override_text(run: Run) -> str:
    """The overrides a run was given beyond its recipe, when the recipe now holds them."""
    as_run = run.record.get("command_as_run")
    if not as_run:
        return ""
    words = [w for w in as_run.split()[1:] if not w.startswith(("experiment=", "seed="))]
    return f" Ran with `{' '.join(words)}`, which the recipe now holds."


def recipe_section(name: str, runs: list[Run]) -> list[str]:
    """A recipe's heading, command, score and one row per run."""
    command = f"Command: `{runs[0].record['command']}`"
    if len(runs) > 1:
        others = [f"`seed={run.record['seed']}`" for run in runs[1:]]
        command += ", and the same with " + " and ".join(others)
    layers = list(runs[0].layers)
    rows = [
        [
            str(run.record["seed"]),
            *([f"{run.layers[task]:.2f}" for task in layers] or [f"{run.value:.2f}"]),
            run.epochs,
            f"{run.minutes:.1f} min",
            run.record["hardware"],
            run.record["note"].rstrip(".") + "." + override_text(run),
        ]
        for run in runs
    ]
    scores = [f"test/{task}" for task in layers] or [runs[0].record["headline"]]
    columns = ["seed", *scores, "epochs (best)", "wall", "hardware"]
    return [
        f"### {name}",
        "",
        f"{corpus_of(name, runs)}: {score(runs)} over {counted_seeds(runs)}; "
        f"published: {anchor(name) or 'none on these layers here'}.",
        f"{command}; files: `docs/results/{name}/`.",
        "",
        *table([*columns, "conditions"], rows),
        "",
    ]


def ablation_rows(folder: Path) -> list[list[str]]:
    """One row per run, against the base of its corpus (a run named ``*base``, else the first;
    a run's ``compared_with`` names another run folder); the switch is what its command adds."""
    runs = [(name.name, run) for name in sorted(folder.iterdir()) for run in runs_of(name)]
    rows = []
    bases: dict[str, Run] = {}
    for name, run in sorted(runs, key=lambda named: not named[0].endswith("base")):
        words = run.record["command"].split()
        if "compared_with" in run.record:
            base = Run.read(RESULTS / run.record["compared_with"])
        else:
            base = bases.setdefault(next(w for w in words if w.startswith("experiment=")), run)
        switch = " ".join(w for w in words if w not in base.record["command"].split())
        rows.append(
            [
                name,
                f"`{switch}`" if switch else "(base)",
                f"{run.record['headline']} {run.value:.2f}",
                f"{run.value - base.value:+.2f}",
                f"{run.minutes:.1f} min",
            ]
        )
    return rows


def ablation_table(folder: Path) -> list[str]:
    columns = ["ablation", "adds to the base command", "test metric", "delta", "wall"]
    return table(columns, ablation_rows(folder))


INTRO = """\
Test sets with gold tokenisation: UPOS accuracy on UD English-EWT, span F1 with conlleval's rules
on CoNLL-2003. Each number on this page is computed from the committed runs under
`docs/results/<recipe>/seed<N>/`: `metrics.json` is the run's own file, `run.json` holds its
command, epochs, wall time, hardware and the conditions it ran in. A score is the mean ± sample
standard deviation over the seeds; the published number is the one on the same test set that the
recipe is measured against. Wall times are of the whole command; the conditions say what else ran
on the machine. `docs/results/README.md` indexes the folder, and `python -m tools.results_table`
writes this page and the README's table from it."""


def page(found: dict[str, list[Run]]) -> str:
    """The site's Recipes and results page."""
    rows = [
        [
            corpus_of(name, runs),
            name,
            f"{score(runs)} ({counted_seeds(runs)})",
            anchor(name),
            ", ".join(run.epochs for run in runs),
            walls(runs),
            hardware_of(runs, short_hardware),
        ]
        for name, runs in found.items()
    ]
    columns = ["task", "recipe", "test score, mean ± std", "published", "epochs (best)"]
    lines = ["# Recipes and results", "", INTRO, "", "## The recipes", ""]
    lines += [*table([*columns, "wall per run", "hardware"], rows), "", "## Each recipe", ""]
    for name, runs in found.items():
        lines += recipe_section(name, runs)
    lines += ["## Ablations", "", "`docs/results/ablations/README.md` says what each one measures."]
    for name, description in ABLATIONS.items():
        folder = RESULTS / "ablations" / name
        lines += ["", f"### {name}", "", f"{description} Files: `{folder.relative_to(ROOT)}/`."]
        lines += ["", *ablation_table(folder)]
    return "\n".join(lines) + "\n"


def with_block(readme: str, block: str) -> str:
    """The README with its results block replaced; refused when the markers are missing."""
    head, start, rest = readme.partition(START)
    _, end, tail = rest.partition(END)
    if not (start and end):
        sys.exit(f"{README}: no {START} ... {END} block to fill")
    return head + block + tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.results_table", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only check, write nothing")
    parser.add_argument("--ablations", metavar="FOLDER", choices=sorted(ABLATIONS))
    args = parser.parse_args(argv)
    if args.ablations:
        print("\n".join(ablation_table(RESULTS / "ablations" / args.ablations)))
        return 0
    found = recipes()
    wanted = {PAGE: page(found), README: with_block(README.read_text(), readme_block(found))}
    stale = [path for path, text in wanted.items() if path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is not what the results give: run {parser.prog}")
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path])
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
