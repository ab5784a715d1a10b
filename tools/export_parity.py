"""Parity of a checkpoint's ONNX graph with PyTorch on a whole held-out set, and what int8 costs.

    python -m tools.export_parity CKPT [--set test] [--no-int8] [--note TEXT]
        --out docs/results/export/NAME.json

Exports ``CKPT`` (float32, and int8 unless ``--no-int8``) into a temporary folder and tags the
training run's ``--set`` (``test`` or ``validation``, read as training read it: the run's
``config.yaml`` beside ``checkpoints/``) through the prediction path, in ``Predictor``'s batches
(length-sorted windows, whole documents for a document memory), three ways:

- PyTorch: ``Predictor``;
- the float32 graph: ``ComparingPredictor`` (``export/parity.py``), which runs the PyTorch
  model eagerly on each batch's same inputs beside it: the tags that differ, those at a tie of
  PyTorch's two best paths (``export/ties.py``), the positions where they tie, the largest
  difference of the emissions (logits);
- the int8 graph: ``OnnxPredictor``.

Each is scored with the evaluation's own metrics (``evaluation/scoring.py``: ``acc``, and
``precision``/``recall``/``f1`` for span tasks, as training logs them). The JSON holds the
set's sentences, tokens and one-token sentences, per task the parity, the whole paths' tags
compared (PyTorch's ``Predictor`` against the float32 and int8 graphs'), the metrics of the
three and int8's change in points, the files' sizes and the versions; paths are relative (to
the data folder, the repository, or a run folder's name). Exit code 1 when parity does not hold
(a float32 tag differs outside a tie, or emissions differ by 1e-4 or more).
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import hydra
import torch
import yaml

from benchmarks.corpus import shown, shown_argv
from seqtagger.errors import CheckpointError, ConfigError
from seqtagger.evaluation import scoring_predictor, set_layers
from seqtagger.evaluation.scoring import score_layers
from seqtagger.evaluation.sets import HeldOutSet, run_config
from seqtagger.export.exporter import export_module
from seqtagger.export.parity import ComparingPredictor, Parity
from seqtagger.export.runtime import OnnxPredictor
from seqtagger.export.sidecar import write_json
from seqtagger.export.ties import TIE
from seqtagger.inference import Predictor
from seqtagger.lightning_module import TaggerModule
from seqtagger.utils.cli import run_command
from seqtagger.utils.machine import cpu_name

SPLITS = ("test", "validation")
SCALARS = ("acc", "precision", "recall", "f1", "strict/f1")


def held_out_set(ckpt: Path, split: str, data_dir: str | None) -> HeldOutSet:
    """The training run's ``split``, read as training read it (``data_dir``: where the
    corpora lie now, if not where the run read them)."""
    cfg = run_config(ckpt)
    if cfg is None or "data" not in cfg:
        raise ConfigError(f"{ckpt}: no training config.yaml beside {ckpt.parent}")
    if data_dir is not None:
        cfg.data.data_dir = data_dir
    datamodule = hydra.utils.instantiate(cfg.data)
    files = datamodule.resolve_files()
    if split not in files:
        raise ConfigError(f"--set {split}: the run's data has {sorted(files)}")
    source = files[split]
    return HeldOutSet(split, source, datamodule.reader_for(source), datamodule.file_scheme)


def tag_and_score(predictor: Predictor, held_out: HeldOutSet) -> tuple[dict, list[dict]]:
    """Every task's scalar metrics on the set, and the tags of each sentence by task (training
    schemes), from one pass of ``predictor``."""
    predictor = scoring_predictor(predictor)
    layers = set_layers(held_out, predictor.tasks, predictor.task_labels, predictor.task)
    tagged: list[dict[str, list[str]]] = []

    def predict(tokens: list[list[str]], documents: list[int]) -> list[dict[str, list[str]]]:
        found = predictor.predict_layers(tokens, documents)
        tagged.extend(found)
        return found

    results = score_layers(held_out, layers, predict)
    metrics = {
        task: {key: result.metrics[key] for key in SCALARS if key in result.metrics}
        for task, result in results.items()
    }
    first = next(iter(results.values()))
    metrics["_set"] = {
        "sentences": len(first.tokens),
        "tokens": sum(map(len, first.tokens)),
        "one_token_sentences": sum(len(tokens) == 1 for tokens in first.tokens),
    }
    return metrics, tagged


def differing_tags(found: list[dict], expected: list[dict], task: str) -> int:
    """Tokens of ``task`` whose tag in ``found`` is not the one in ``expected``."""
    pairs = zip(found, expected, strict=True)
    return sum(a != b for got, want in pairs for a, b in zip(got[task], want[task], strict=True))


def parity_record(parity: Parity) -> dict[str, Any]:
    return {
        "tokens": parity.tokens,
        "differing_tags": parity.differing,
        "differing_at_ties": parity.tied,
        "near_tie_positions": parity.near_ties,
        "max_abs_logit_difference": parity.logits,
        "max_abs_logit_difference_at": parity.where,
        "holds": parity.holds,
    }


def measure(
    ckpt: Path, split: str, *, int8: bool = True, data_dir: str | None = None
) -> dict[str, Any]:
    """The report (see the module docstring) for ``ckpt`` on its run's ``split``."""
    held_out = held_out_set(ckpt, split, data_dir)
    module = TaggerModule.from_checkpoint(ckpt)
    report: dict[str, Any] = {"checkpoint": shown(ckpt), "run": run_record(ckpt)}
    report.update({"set": split, "corpus": shown(held_out.source), "tie": TIE})
    metrics, tagged = {}, {}
    metrics["torch"], tagged["torch"] = tag_and_score(Predictor(module, device="cpu"), held_out)
    with tempfile.TemporaryDirectory(prefix="seqtagger_parity_") as folder:
        graphs = {"onnx_fp32": Path(folder) / "fp32" / "model.onnx"}
        if int8:
            graphs["onnx_int8"] = Path(folder) / "int8" / "model.onnx"
        for name, path in graphs.items():
            path.parent.mkdir()
            export_module(module, path, quantize="int8" if name == "onnx_int8" else None)
        report["bytes"] = {name: graph_bytes(path) for name, path in graphs.items()}
        comparing = ComparingPredictor(graphs["onnx_fp32"], module.tagger)
        metrics["onnx_fp32"], tagged["onnx_fp32"] = tag_and_score(comparing, held_out)
        if int8:
            quantized = OnnxPredictor(graphs["onnx_int8"])
            metrics["onnx_int8"], tagged["onnx_int8"] = tag_and_score(quantized, held_out)
    report.update(metrics["torch"].pop("_set"))
    for values in list(metrics.values())[1:]:
        values.pop("_set")
    report["tasks"] = {}
    for task, parity in comparing.parity.items():
        record = {"parity_fp32": parity_record(parity), "metrics": {}}
        for name in tagged:
            if name != "torch":
                record[f"whole_path_differing_tags_{name}"] = differing_tags(
                    tagged[name], tagged["torch"], task
                )
            record["metrics"][name] = metrics[name][task]
        if int8:
            fp32, quantized = metrics["onnx_fp32"][task], metrics["onnx_int8"][task]
            record["int8_change_points"] = {
                key: round(100 * (quantized[key] - fp32[key]), 4) for key in fp32
            }
        report["tasks"][task] = record
    report["holds"] = all(parity.holds for parity in comparing.parity.values())
    report["versions"] = versions()
    return report


def run_record(ckpt: Path) -> dict[str, Any]:
    """The training run's overrides (``.hydra/overrides.yaml``) and the checkpoint's epoch."""
    overrides = ckpt.resolve().parent.parent / ".hydra" / "overrides.yaml"
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    return {
        "overrides": yaml.safe_load(overrides.read_text()) if overrides.is_file() else None,
        "epoch": state.get("epoch"),
        "global_step": state.get("global_step"),
    }


def graph_bytes(path: Path) -> int:
    """Bytes of a graph with its weights file (its sidecar left out)."""
    return sum(f.stat().st_size for f in path.parent.glob(path.name + "*") if f.suffix != ".json")


def versions() -> dict[str, str]:
    import onnxruntime

    import seqtagger

    return {
        "seqtagger": seqtagger.__version__,
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "python": platform.python_version(),
        "cpu": cpu_name(),
    }


PROG = "python -m tools.export_parity"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("checkpoint", type=Path, metavar="CKPT", help="a seqtagger-train checkpoint")
    add("--set", choices=SPLITS, default="test", help="the run's held-out split")
    add("--data-dir", help="where the corpora lie, if not where the run read them")
    add("--no-int8", action="store_true", help="the float32 graph only")
    add("--note", default=None, help="what the checkpoint is (e.g. trained for one epoch)")
    add("--out", type=Path, default=None, help="write the report as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    """Measure, print a summary, write the JSON; 1 when parity does not hold."""
    if not args.checkpoint.is_file():
        raise CheckpointError(f"{args.checkpoint}: no such checkpoint file")
    if args.out is not None and not args.out.parent.is_dir():
        raise ConfigError(f"--out {args.out}: its folder does not exist")
    report = measure(args.checkpoint, args.set, int8=not args.no_int8, data_dir=args.data_dir)
    report = {"argv": shown_argv([PROG, *sys.argv[1:]]), **report, "note": args.note}
    if args.out is not None:
        write_json(args.out, report)
    print(summary(report))
    return 0 if report["holds"] else 1


def main(argv: list[str] | None = None) -> int:
    return run_command(PROG, build_parser(), run, argv)


def summary(report: dict[str, Any]) -> str:
    """A few lines: the set, then per task the parity and the metrics."""
    lines = [f"{report['checkpoint']} on {report['corpus']}: {report['sentences']} sentences"]
    for task, record in report["tasks"].items():
        parity = record["parity_fp32"]
        scores = "; ".join(
            f"{name} " + ", ".join(f"{key} {100 * value:.2f}" for key, value in values.items())
            for name, values in record["metrics"].items()
        )
        lines.append(
            f"  {task}: float32 tags differing {parity['differing_tags']} (at ties "
            f"{parity['differing_at_ties']}), emissions within "
            f"{parity['max_abs_logit_difference']:.1e}; {scores}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
