"""ECE of a trained checkpoint's confidences before and after its temperature, on its run's dev
and test sets, as JSON for ``docs/results/calibration/``.

    python -m tools.calibration_report \\
        logs/train/runs/RUN/checkpoints/best.ckpt --out docs/results/calibration/RECIPE.json

The temperature is the checkpoint's stored one (fitted at the end of training); a checkpoint
without one (trained before calibration existed, or with ``calibrate=false``) is fitted here on
its run's dev set, as ``seqtagger calibrate`` would fit it, without rewriting the checkpoint
(``--refit`` fits here in any case). Each set is then tagged once and measured per task: token
ECE, and span ECE for span tasks (15 bins; ``docs/evaluation.md``, Calibration), at temperature
1 and at the temperature, with the bins of each. The sets come from the run's ``config.yaml``
beside the ``checkpoints`` folder.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from seqtagger.calibration.bins import DEFAULT_BINS

SETS = {"dev": "validation", "test": "test"}


def checkpoint_name(path: Path) -> str:
    """``RUN/checkpoints/best.ckpt``: the run folder and the file, not this machine's folders."""
    resolved = path.absolute()
    return str(Path(*resolved.parts[-3:])) if len(resolved.parts) >= 3 else path.name


def report(args: argparse.Namespace) -> dict[str, Any]:
    """The measurements of ``args.checkpoint`` (see the module docstring)."""
    from seqtagger.calibration.sets import run_split
    from seqtagger.calibration.store import fit_on_set, measure_set
    from seqtagger.data.info import stored_temperatures
    from seqtagger.inference import Predictor
    from seqtagger.models.trained import TrainedTagger

    model = TrainedTagger.from_checkpoint(args.checkpoint, named_by="CKPT")
    device = None if args.device == "auto" else args.device
    predictor = Predictor(model, device=device, batch_size=args.batch_size)
    stored = model.data_info.get("calibration")
    if stored and not args.refit:
        fit = {"source": "stored in the checkpoint", **stored}
        temperatures = stored_temperatures(model.data_info)
    else:
        dev = run_split(args.checkpoint, "validation", "dev")
        result = fit_on_set(predictor, model.tagger, dev, "dev")
        fit = {"source": "fitted by this command on the run's dev set", **result.record}
        temperatures = dict(result.record["temperature"])
    sets = {}
    for name in args.sets:
        held_out = run_split(args.checkpoint, SETS[name], name)
        measured = measure_set(predictor, model.tagger, held_out, temperatures)
        sets[name] = {task: calibration.to_dict() for task, calibration in measured.items()}
    return {
        "checkpoint": checkpoint_name(Path(args.checkpoint)),
        "bins": DEFAULT_BINS,
        "temperature": temperatures,
        "fit": fit,
        "ece": summary(sets),
        "sets": sets,
        "command": command(args),
        "hardware": f"{platform.machine()}, device {predictor.device}",
    }


def command(args: argparse.Namespace) -> str:
    """The command line, its checkpoint named as in ``checkpoint`` and its output relative to
    the working folder (no temporary folders of this machine)."""
    parts = ["python -m tools.calibration_report", checkpoint_name(Path(args.checkpoint))]
    if args.out is not None:
        out = args.out.absolute()
        parts += [
            "--out",
            str(out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out.name),
        ]
    parts += ["--sets", *args.sets] + ["--refit"] * args.refit
    return " ".join(parts)


def summary(sets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``{set: {task: {level: {"before": ece, "after": ece}}}}``."""
    levels = ("token", "span")
    return {
        name: {
            task: {
                level: {side: data[level][side]["ece"] for side in ("before", "after")}
                for level in levels
                if level in data
            }
            for task, data in tasks.items()
        }
        for name, tasks in sets.items()
    }


def write_through(data: dict[str, Any], path: Path) -> None:
    from seqtagger.utils.files import replace_file

    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, (json.dumps(data, indent=1) + "\n").encode("utf-8"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", metavar="CKPT", type=Path)
    parser.add_argument("--out", type=Path, help="the JSON file to write (else: stdout only)")
    parser.add_argument("--sets", nargs="+", choices=sorted(SETS), default=["dev", "test"])
    parser.add_argument("--refit", action="store_true", help="fit on dev even if one is stored")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    data = report(args)
    for name, tasks in data["ece"].items():
        for task, levels in tasks.items():
            shown = "; ".join(
                f"{level} ECE {values['before']:.4f} -> {values['after']:.4f}"
                for level, values in levels.items()
                if values["before"] is not None
            )
            print(f"{name} {task} (T={data['temperature'][task]:.4g}): {shown}")
    if args.out is not None:
        write_through(data, args.out)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
