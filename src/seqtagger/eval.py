"""``seqtagger-eval``: score a checkpoint on one or more held-out sets.

    seqtagger-eval ckpt_path=logs/train/runs/ewt/checkpoints/epoch_009.ckpt
    seqtagger-eval ckpt_path=... +sets.gum=gum-test.conllu \
        '+sets.dev={corpus: ud_ewt, split: validation}'

The model, its vocabularies and schemes come from the checkpoint (loaded with
``weights_only=True``); each set is read with a reader chosen by file suffix or given in the set's
config. Results go to ``<output_dir>/<set>/`` (see ``seqtagger.evaluation``) and TensorBoard.
Bad input ends in one message naming the file, line or config key, and exit code 2.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from seqtagger.data.download import CORPORA, ensure_corpus
from seqtagger.errors import ConfigError
from seqtagger.evaluation import (
    HeldOutSet,
    held_out_from_file,
    log_to_tensorboard,
    score_set,
    write_set,
)
from seqtagger.inference import Predictor
from seqtagger.lightning_module import TaggerModule
from seqtagger.train import CONFIG_DIR
from seqtagger.utils.cli import user_errors
from seqtagger.utils.config import apply_extras, write_json
from seqtagger.utils.pylogger import RankedLogger

log = RankedLogger(__name__, rank_zero_only=True)

SUMMARY_KEYS = ("acc", "precision", "recall", "f1", "strict/f1")


def eval_device(device: str) -> str | None:
    """``device`` for the Predictor (``None``: a GPU when there is one); a clear error for a
    device that is unknown or absent (torch would fail later with an ``AssertionError``)."""
    device = str(device)
    if device not in ("auto", "cpu") and not re.fullmatch(r"cuda(:\d+)?", device):
        raise ConfigError(f"device={device}: expected auto, cpu, cuda or cuda:N")
    index = int(device.partition(":")[2] or 0)
    if device.startswith("cuda") and index >= torch.cuda.device_count():
        raise ConfigError(
            f"device={device}: this machine has {torch.cuda.device_count()} CUDA device(s) "
            "(use device=cpu or device=auto)"
        )
    return None if device == "auto" else device


def run_config(ckpt_path: Path) -> DictConfig | None:
    """The training run's resolved config: ``<run>/config.yaml`` beside ``<run>/checkpoints/``."""
    path = ckpt_path.resolve().parent.parent / "config.yaml"
    return OmegaConf.load(path) if path.is_file() else None


def default_sets(ckpt_path: Path) -> dict[str, HeldOutSet]:
    """The training run's test split, read as training read it."""
    cfg = run_config(ckpt_path)
    if cfg is None or "data" not in cfg:
        raise ConfigError(
            f"sets is empty and no training config.yaml was found beside {ckpt_path.parent}: "
            "name the held-out sets, e.g. +sets.test=path/to/test.conll"
        )
    datamodule = hydra.utils.instantiate(cfg.data)
    files = datamodule.resolve_files()
    if "test" not in files:
        raise ConfigError("sets is empty and the training data has no test split: name the sets")
    source = files["test"]
    return {
        "test": HeldOutSet("test", source, datamodule.reader_for(source), datamodule.file_scheme)
    }


def held_out_set(name: str, spec: Any, cfg: DictConfig, file_scheme: str) -> HeldOutSet:
    """One ``sets`` entry: a file path, ``{file, scheme, reader}`` or ``{corpus, split}``."""
    if isinstance(spec, str):
        return held_out_from_file(name, _find(spec, cfg), file_scheme)
    if not isinstance(spec, Mapping):
        raise ConfigError(f"sets.{name}: expected a file path or a mapping, got {spec!r}")
    if "corpus" in spec:
        return _corpus_set(name, spec, cfg)
    if "file" not in spec:
        raise ConfigError(f"sets.{name}: give `file` (or `corpus` and `split`)")
    reader = hydra.utils.instantiate(spec["reader"]) if spec.get("reader") else None
    return held_out_from_file(
        name, _find(spec["file"], cfg), spec.get("scheme") or file_scheme, reader
    )


def _corpus_set(name: str, spec: Mapping, cfg: DictConfig) -> HeldOutSet:
    corpus = spec["corpus"]
    if corpus not in CORPORA:
        raise ConfigError(
            f"sets.{name}.corpus={corpus!r} is not known; choose from {sorted(CORPORA)}"
        )
    files = ensure_corpus(corpus, cfg.paths.data_dir)
    split = spec.get("split", "test")
    if split not in files:
        raise ConfigError(f"sets.{name}.split={split!r}: {corpus} has {sorted(files)}")
    scheme = spec.get("scheme") or CORPORA[corpus].scheme
    return held_out_from_file(name, files[split], scheme)


def _find(path: str, cfg: DictConfig) -> Path:
    """A set file as given, else relative to ``paths.data_dir``."""
    candidate = Path(path).expanduser()
    if candidate.exists() or candidate.is_absolute():
        return candidate
    in_data = Path(cfg.paths.data_dir) / candidate
    return in_data if in_data.exists() else candidate


def evaluate(cfg: DictConfig) -> dict[str, dict[str, Any]]:
    """Score the checkpoint on every set; returns ``{set: metrics}`` and writes the reports."""
    ckpt_path = Path(cfg.ckpt_path)
    module = TaggerModule.from_checkpoint(ckpt_path)
    train_scheme, file_scheme = module.data_info["train_scheme"], module.data_info["file_scheme"]
    device = eval_device(cfg.get("device", "auto"))
    predictor = Predictor(module, device=device, batch_size=cfg.batch_size, scheme=train_scheme)

    sets_cfg = cfg.get("sets") or {}
    if sets_cfg:
        sets = {name: held_out_set(name, spec, cfg, file_scheme) for name, spec in sets_cfg.items()}
    else:
        sets = default_sets(ckpt_path)

    output_dir = Path(cfg.paths.output_dir)
    writer = _tensorboard(output_dir) if cfg.get("tensorboard", True) else None
    results: dict[str, dict[str, Any]] = {}
    for name, held_out in sets.items():
        log.info(f"Scoring <{name}>: {held_out.source}")
        result = score_set(predictor, held_out)
        folder = write_set(result, output_dir)
        if writer is not None:
            log_to_tensorboard(result, writer, worst=cfg.get("worst_sentences", 5))
        results[name] = result.metrics
        summary = ", ".join(
            f"{k}={result.metrics[k]:.4f}" for k in SUMMARY_KEYS if k in result.metrics
        )
        log.info(f"<{name}> {summary} -> {folder}")
    if writer is not None:
        writer.close()
    write_json({name: _headline(m) for name, m in results.items()}, output_dir / "metrics.json")
    return results


def _headline(metrics: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: value
        for key, value in metrics.items()
        if not isinstance(value, dict) or key == "unknown_tags"
    }


def _tensorboard(output_dir: Path) -> Any:
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(output_dir / "tensorboard"))


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def main(cfg: DictConfig) -> None:
    """Console entry point: one clear message and exit code 2 on bad input."""
    apply_extras(cfg)
    with user_errors("seqtagger-eval"):
        evaluate(cfg)


if __name__ == "__main__":
    main()
