"""seqtagger's speed against plain PyTorch, in one process, on the same model and batches.

    python -m benchmarks train [--corpus ewt|conll2003|synthetic] [--settings bilstm bilstm_crf hf]
        [--parts train predict data loss] [--batch-sizes 32 256] [--device cpu cuda] [--bf16]
        [--batches 50] [--warmup 5] [--val-batches 5] [--repeats 3] [--no-data]
        [--out results.json] [-- extra Hydra overrides]
    python -m benchmarks predict ...   # the same with --parts predict

For each setting (a named list of Hydra overrides: ``--settings name`` from ``SETTINGS``, or
``name:override,override``), device, precision and batch size, it times:

  train    (a) a plain PyTorch loop (forward, loss, backward, clipping, optimizer step) against
           (b) the framework as a user runs it: the Trainer, callbacks (checkpoints, early
           stopping, progress bar, ...) and logger built from the composed configs, with
           validation each epoch. Training tokens/s over ``--batches`` steps after ``--warmup``
  epoch    the same runs' epoch: those steps, ``--val-batches`` dev batches, saving weights
  fit      the framework's whole ``trainer.fit`` (set-up, sanity check, epoch): no plain twin
  predict  (c) a plain inference loop (collate, forward, decoding to host ids, inference mode)
           against ``Predictor.predict`` (features from strings too) on the same sentences
  data     (d) read + check + vocabularies + encode: an empty cache (cold) and a filled one
  loss     (e) cross-entropy forward + backward, flattened (N*L, C) against permuted (N, C, L),
           at the model's label count and at C = 32,000, N and L of a real batch

Plain and framework runs alternate (A B, B A, ...); each number is the median of ``--repeats``,
and each ratio the median of the paired ratios, computed in this process. A setting whose config
does not compose on this checkout, or whose package is missing (``model=hf`` without
``transformers``), is skipped with a message, as is a missing device. The plain loop builds the
config's optimizer (parameter groups too) but no LR schedule. Prints one table; ``--out``
writes everything as JSON. ``--parts`` keeps some of them (train keeps epoch and fit too).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import platform
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import hydra
import lightning
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf import DictConfig

from benchmarks.corpus import conll2003_overrides, ewt_overrides, files_overrides, write_synthetic
from benchmarks.parts import (
    Cell,
    batch_shape,
    build_module,
    data_cold_warm,
    framework_train,
    loss_layouts,
    plain_predict,
    plain_train,
    predictor_predict,
)
from seqtagger.errors import UserError
from seqtagger.train import CONFIG_DIR
from seqtagger.utils.targets import to_plain

SETTINGS: dict[str, list[str]] = {
    "bilstm": ["model=bilstm"],
    "bilstm_crf": ["model=bilstm", "model/head=crf"],
    "hf": ["model=hf"],  # the pretrained-transformer tagger, where the checkout has it
}
CORPORA = ["ewt", "conll2003", "synthetic"]
PARTS = ["train", "predict", "data", "loss"]
LARGE_C = 32_000
LEGEND = (
    "A / B: plain loop / seqtagger (train, epoch, predict); warm / cold (data); "
    "flattened (N*L, C) / permuted (N, C, L) (loss). B/A: B's time over A's (>1: B is slower)"
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=CORPORA, default="ewt")
    parser.add_argument("--synthetic-sentences", type=int, default=2000, help="train sentences")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), metavar="NAME[:OVR,..]")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=PARTS, help="what to time")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 256])
    parser.add_argument("--device", nargs="+", choices=["cpu", "cuda"], default=None)
    parser.add_argument("--bf16", action="store_true", help="also bf16 autocast on CUDA")
    parser.add_argument("--batches", type=int, default=50, help="timed training batches")
    parser.add_argument("--warmup", type=int, default=5, help="untimed batches before them")
    parser.add_argument("--val-batches", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-data", action="store_true", help="skip the data-path rows (d)")
    parser.add_argument("--loss-reps", type=int, default=20, help="(5 at C = 32,000)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every setting")
    args = parser.parse_args(argv)
    if min(args.batches, args.val_batches, args.repeats, args.loss_reps) < 1 or args.warmup < 0:
        parser.error("--batches, --val-batches, --repeats, --loss-reps >= 1; --warmup >= 0")
    return args


def parse_settings(names: Sequence[str]) -> dict[str, list[str]]:
    """``name`` (from ``SETTINGS``) or ``name:override,override`` -> name -> overrides."""
    settings: dict[str, list[str]] = {}
    for item in names:
        name, _, given = item.partition(":")
        if not given and name not in SETTINGS:
            raise SystemExit(f"benchmark: unknown setting {name!r}; known: {sorted(SETTINGS)}")
        settings[name] = given.split(",") if given else SETTINGS[name]
    return settings


def compose_train(overrides: list[str]) -> DictConfig:
    """``configs/train.yaml`` with ``overrides`` (Hydra's own errors propagate)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=CONFIG_DIR):
        return compose(config_name="train", overrides=overrides)


def cell_overrides(
    args: argparse.Namespace, device: torch.device, precision: str, batch_size: int, out: Path
) -> list[str]:
    """What every cell sets: batch size, device, precision, one short epoch, its run folder."""
    cuda = device.type == "cuda"
    return [
        f"data.batch_size={batch_size}",
        f"data.eval_batch_size={batch_size}",
        f"data.pin_memory={str(cuda).lower()}",
        f"trainer.accelerator={'gpu' if cuda else 'cpu'}",
        "trainer.devices=1",
        f"trainer.precision={'bf16-mixed' if precision == 'bf16' else '32-true'}",
        "trainer.min_epochs=1",
        "trainer.max_epochs=1",
        "++trainer.max_time=null",
        f"trainer.limit_train_batches={args.warmup + args.batches}",
        f"trainer.limit_val_batches={args.val_batches}",
        f"paths.output_dir={out / 'framework'}",
    ]


def devices(args: argparse.Namespace) -> tuple[list[torch.device], list[dict[str, str]]]:
    """The devices to run on (default: the CPU, and CUDA when there is one) and the skipped."""
    wanted = args.device or ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    if "cuda" in wanted and not torch.cuda.is_available():
        reason = "no CUDA device on this machine"
        return [torch.device(d) for d in wanted if d != "cuda"], [
            {"device": "cuda", "reason": reason}
        ]
    return [torch.device(d) for d in wanted], []


def median_ratio(a: list[float], b: list[float], throughput: bool) -> float:
    """Median of the paired time ratios B/A (for throughputs, A/B)."""
    pairs = zip(a, b, strict=True)
    return statistics.median(x / y if throughput else y / x for x, y in pairs)


def row(label: dict[str, Any], part: str, measure: str, unit: str, a, b) -> dict[str, Any]:
    """One table row; ``a``/``b`` are per-repeat samples (``a`` may be None: no plain twin)."""
    throughput = unit.endswith("/s")
    return {
        **label,
        "part": part,
        "measure": measure,
        "unit": unit,
        "a": statistics.median(a) if a else None,
        "b": statistics.median(b),
        "ratio": median_ratio(a, b, throughput) if a else None,
        "a_samples": a,
        "b_samples": b,
    }


def alternate(repeats: int, first: Callable[[], Any], second: Callable[[], Any]) -> tuple:
    """Run both ``repeats`` times in the order A B, B A, A B, ...; the two lists of results."""
    results: tuple[list, list] = ([], [])
    for repeat in range(repeats):
        order = [(0, first), (1, second)]
        for index, function in reversed(order) if repeat % 2 else order:
            results[index].append(function())
    return results


def run_cell(cell: Cell, label: dict[str, Any], args: argparse.Namespace) -> list[dict]:
    """Train, epoch, fit, predict and loss rows of one cell (those of ``args.parts``)."""
    rows = train_rows(cell, label, args) if "train" in args.parts else []
    if "predict" not in args.parts and "loss" not in args.parts:
        return rows
    module = build_module(cell)
    if "predict" in args.parts:
        predicted = alternate(
            args.repeats,
            lambda: plain_predict(cell, module),
            lambda: predictor_predict(cell, module),
        )
        rows.append(row(label, "predict", "predict tokens/s", "tokens/s", *predicted))
    if "loss" in args.parts:
        n, length = batch_shape(cell)
        for classes in (len(module.labels), LARGE_C):
            reps = min(args.loss_reps, 5) if classes >= 10_000 else args.loss_reps
            ncl, flat = loss_layouts((n, length), classes, cell, reps)
            measure = f"loss fwd+bwd ms, C={classes:,} N={n} L={length}"
            rows.append(row(label, "loss", measure, "ms", [flat], [ncl]))
    return rows


def train_rows(cell: Cell, label: dict[str, Any], args: argparse.Namespace) -> list[dict]:
    """Train, epoch and fit rows: the plain loop and the framework, alternating."""
    plain, framework = alternate(
        args.repeats, lambda: plain_train(cell), lambda: framework_train(cell)
    )

    def samples(key: str) -> tuple[list[float] | None, list[float]]:
        return [p[key] for p in plain] if key in plain[0] else None, [f[key] for f in framework]

    epoch = f"epoch s ({args.batches} train + {args.val_batches} dev batches, saving)"
    fit = "trainer.fit s (set-up, sanity check, epoch)"
    return [
        row(label, "train", "train tokens/s", "tokens/s", *samples("train_tokens_per_s")),
        row(label, "epoch", epoch, "s", *samples("epoch_s")),
        row(label, "fit", fit, "s", *samples("fit_s")),
    ]


def run_setting(name: str, overrides: list[str], base: list[str], args, report: dict) -> None:
    """Every cell of one setting, plus its data-path row; skips what cannot run here."""
    try:
        cfg = compose_train([*base, *overrides])
    except HydraException as error:
        reason = str(error).splitlines()[0]
        skip(report, name, "-", f"its config does not compose on this checkout: {reason}")
        return
    try:
        timed = "data" in args.parts and not args.no_data
        cold_warm = list(data_cold_warm(cfg, args.repeats)) if timed else []
    except (ImportError, UserError) as error:  # e.g. vectors or transformers not installed
        skip(report, name, "-", f"{type(error).__name__}: {error}")
        return
    label = {"setting": name, "device": "cpu", "precision": "-", "batch_size": None}
    if cold_warm:
        cold, warm = [c for c, _ in cold_warm], [w for _, w in cold_warm]
        report["rows"].append(row(label, "data", "read + encode s", "s", warm, cold))
    if set(args.parts) <= {"data"}:
        return
    for device in report["devices"]:
        for precision in ["32", *(["bf16"] if args.bf16 and device.type == "cuda" else [])]:
            for batch_size in args.batch_sizes:
                label = {"setting": name, "device": device.type, "precision": precision}
                label["batch_size"] = batch_size
                run_one(label, [*base, *overrides], args, report, device)


def run_one(label: dict, overrides: list[str], args, report: dict, device: torch.device) -> None:
    """One cell in a temporary run folder, removed afterwards."""
    out = Path(tempfile.mkdtemp(prefix="seqtagger_bench_"))
    try:
        cell = make_cell(label, overrides, args, device, out)
        available = len(cell.datamodule.train_dataloader()) - args.warmup
        if available < args.batches:
            reason = f"{available} training batches after the warm-up, {args.batches} asked"
            skip(report, label["setting"], str(label), reason)
            return
        report["rows"].extend(run_cell(cell, label, args))
        print(f"done: {label}", file=sys.stderr, flush=True)
        save(report, args.out)  # a run cut short still leaves every finished cell
    finally:
        shutil.rmtree(out, ignore_errors=True)


def make_cell(label: dict, overrides: list[str], args, device: torch.device, out: Path) -> Cell:
    """Compose the cell's config and set its datamodule up (from the benchmark's cache)."""
    precision, batch_size = label["precision"], label["batch_size"]
    cfg = compose_train([*overrides, *cell_overrides(args, device, precision, batch_size, out)])
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.set_embedding(to_plain(cfg.model.embedding))
    datamodule.setup("fit")
    return Cell(
        cfg=cfg,
        datamodule=datamodule,
        device=device,
        precision=precision,
        warmup=args.warmup,
        batches=args.batches,
        val_batches=args.val_batches,
        output_dir=out,
    )


def save(report: dict, out: Path | None) -> None:
    """Write the report so far as JSON (devices as their names)."""
    if out is not None:
        out.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")


def skip(report: dict, setting: str, where: str, reason: str) -> None:
    print(f"skip {setting} {where}: {reason}", file=sys.stderr, flush=True)
    report["skipped"].append({"setting": setting, "where": where, "reason": reason})


def corpus(args: argparse.Namespace, folder: Path) -> list[str]:
    if args.corpus == "ewt":
        return ewt_overrides()
    if args.corpus == "conll2003":
        return conll2003_overrides()
    return files_overrides(write_synthetic(folder / "corpus", train=args.synthetic_sentences))


def meta(args: argparse.Namespace) -> dict[str, Any]:
    cuda = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "argv": sys.argv,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "cuda_devices": cuda,
        "corpus": args.corpus,
        "batches": args.batches,
        "warmup": args.warmup,
        "val_batches": args.val_batches,
        "repeats": args.repeats,
        "legend": LEGEND,
    }


COLUMNS = {"setting": "<12", "device": "<7", "prec": "<5", "batch": ">6", "measure": "<55"}
COLUMNS |= {"A": ">11", "B": ">11", "B/A": ">7"}


def number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.3g}" if value < 100 else f"{value:,.0f}"


def print_table(rows: list[dict]) -> None:
    """One line per row, the legend under the table."""

    def line(values: Sequence[Any]) -> str:
        return " ".join(f"{v!s:{spec}}" for v, spec in zip(values, COLUMNS.values(), strict=True))

    header = line(list(COLUMNS))
    print(header, "-" * len(header), sep="\n")
    for r in rows:
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        cells = [r["setting"], r["device"], r["precision"], r["batch_size"] or "-", r["measure"]]
        print(line([*cells, number(r["a"]), number(r["b"]), ratio]))
    print(LEGEND)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    with quiet_loggers("lightning", "seqtagger"):  # the table, not set-up chatter
        return run(argv)


@contextlib.contextmanager
def quiet_loggers(*names: str) -> Iterator[None]:
    """Warnings and errors only from these loggers, their levels restored afterwards (a caller
    in the same process, a test, trains with its own log lines after)."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Time every setting and part that ``argv`` asks for; print the table, write the JSON."""
    args = parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="seqtagger_bench_corpus_"))
    report: dict[str, Any] = {"meta": meta(args), "settings": {}, "rows": [], "skipped": []}
    try:
        # a cache of its own: the user's is left alone; the first cell fills it, untimed
        base = [*corpus(args, folder), f"paths.cache_dir={folder / 'cache'}", *args.overrides]
        report["devices"], skipped_devices = devices(args)
        for item in skipped_devices:
            skip(report, "*", item["device"], item["reason"])
        for name, overrides in parse_settings(args.settings).items():
            report["settings"][name] = overrides
            run_setting(name, overrides, base, args, report)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report["devices"] = [str(d) for d in report["devices"]]
    print_table(report["rows"])
    if args.out is not None:
        save(report, args.out)
        print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
