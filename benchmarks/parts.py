"""What ``benchmarks.benchmark`` times, one function per measurement; each returns plain numbers.

A ``Cell`` is one (setting, device, precision, batch size): a composed config and its datamodule,
read once, so every measurement of the cell sees the same model config and the same batches (the
first ``warmup + batches`` of the bucketed training loader's epoch 0; the first ``warmup`` are run
but not timed). CUDA work is synchronised before every clock read.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from benchmarks.loss import make_inputs, path_flat, path_ncl, time_paths
from seqtagger.constants import IGNORE_INDEX
from seqtagger.data.collate import batch_to_device, collate_batch
from seqtagger.inference import Predictor
from seqtagger.lightning_module import TaggerModule
from seqtagger.models.heads import LinearHead
from seqtagger.training.optim import build_optimizer
from seqtagger.utils.config import instantiate_callbacks, instantiate_loggers
from seqtagger.utils.targets import to_plain

# a Trainer that only trains: no validation, checkpoints, logger, progress bar or summary
TRAINING_ONLY = {
    "devices": 1,
    "limit_val_batches": 0,
    "num_sanity_val_steps": 0,
    "logger": False,
    "enable_checkpointing": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "use_distributed_sampler": False,
}


def build_model(model_cfg: DictConfig, data_info: dict[str, Any]) -> TaggerModule:
    """The config's ``TaggerModule`` sized by ``data_info``. Instantiated as a partial first:
    vocabularies passed through ``instantiate`` become OmegaConf nodes (3 s for EWT's)."""
    factory = hydra.utils.instantiate(model_cfg, _recursive_=False, _partial_=True)
    return factory(data_info=data_info)


@dataclass
class Cell:
    """One benchmark cell: ``cfg`` composed for it, ``datamodule`` set up from ``cfg.data``."""

    cfg: DictConfig
    datamodule: Any
    device: torch.device
    precision: str  # "32" or "bf16" (autocast)
    warmup: int
    batches: int
    val_batches: int
    output_dir: Path

    def autocast(self) -> AbstractContextManager:
        enabled = self.precision == "bf16"
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=enabled)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def clock(self) -> float:
        """``perf_counter`` after the device has finished what was queued."""
        self.sync()
        return time.perf_counter()

    def index_batches(self) -> list[list[int]]:
        """The training rows of the cell's batches, in the loader's order (epoch 0)."""
        sampler = self.datamodule.train_dataloader().batch_sampler
        return list(islice(iter(sampler), self.warmup + self.batches))


def build_module(cell: Cell) -> TaggerModule:
    """The cell's model, sized from its data, seeded as a run is."""
    L.seed_everything(cell.cfg.seed, verbose=False)
    data_info = cell.datamodule.data_info()
    return build_model(cell.cfg.model, data_info)


# ----- (a) a plain PyTorch training loop -----
def plain_loss(head: torch.nn.Module, logits: torch.Tensor, batch: dict) -> torch.Tensor:
    """Cross-entropy over ``logits (N, L, C)`` flattened for the linear head itself, else the
    head's own loss (a CRF's likelihood has no plainer form). Exactly the linear head: a CRF
    head subclasses it, and an ``isinstance`` test once timed the CRF's plain loop on
    cross-entropy."""
    if type(head) is LinearHead:
        flat = logits.reshape(-1, logits.shape[-1])
        return F.cross_entropy(flat, batch["tag_ids"].reshape(-1), ignore_index=IGNORE_INDEX)
    return head.loss(logits, batch["tag_ids"], batch["mask"])


def plain_train(cell: Cell) -> dict[str, float]:
    """Train ``batches`` steps (forward, loss, backward, clipping, optimizer step), then score
    ``val_batches`` dev batches and save the weights, as an epoch of the framework does."""
    tagger = build_module(cell).tagger.to(cell.device).train()
    mixed = cell.precision == "bf16"  # as the framework decides (fused only in full precision)
    optimizer = build_optimizer(cell.cfg.model.optimizer, tagger.named_parameters(), mixed)
    clip = cell.cfg.trainer.get("gradient_clip_val")
    loader = iter(cell.datamodule.train_dataloader())
    tokens, start = 0, 0.0
    for step, batch in enumerate(islice(loader, cell.warmup + cell.batches)):
        if step == cell.warmup:
            start = cell.clock()
        batch = batch_to_device(batch, cell.device)
        with cell.autocast():
            loss = plain_loss(tagger.head, tagger(batch)["tags"], batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(tagger.parameters(), float(clip))
        optimizer.step()
        tokens += int(batch["lengths_cpu"].sum()) if step >= cell.warmup else 0
    train_end = cell.clock()
    plain_validate(cell, tagger)
    torch.save(tagger.state_dict(), cell.output_dir / "plain.pt")
    end = cell.clock()
    return {"train_tokens_per_s": tokens / (train_end - start), "epoch_s": end - start}


@torch.inference_mode()
def plain_validate(cell: Cell, tagger: torch.nn.Module) -> float:
    """Token accuracy on the first ``val_batches`` dev batches (one host read at the end)."""
    tagger.eval()
    correct = total = torch.zeros((), device=cell.device, dtype=torch.int64)
    for batch in islice(cell.datamodule.val_dataloader(), cell.val_batches):
        batch = batch_to_device(batch, cell.device)
        with cell.autocast():
            predicted = tagger.decode(batch)["tags"]  # (N, L)
        correct = correct + ((predicted == batch["tag_ids"]) & batch["mask"]).sum()
        total = total + batch["mask"].sum()
    tagger.train()
    return float(correct) / max(float(total), 1.0)


# ----- (b) the framework: the configured Trainer, as train() builds it -----
class WindowTimer(L.Callback):
    """Times the training batches ``first..last`` and the epoch's end (validation, checkpoints,
    logging) up to ``on_fit_end``; counts real tokens from the batch's host lengths."""

    def __init__(self, cell: Cell) -> None:
        self.cell, self.first = cell, cell.warmup
        self.last = cell.warmup + cell.batches - 1
        self.tokens, self.start, self.train_end, self.end = 0, 0.0, 0.0, 0.0

    def on_train_batch_start(self, trainer, module, batch, batch_idx: int) -> None:
        if batch_idx == self.first:
            self.start = self.cell.clock()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx: int) -> None:
        if batch_idx >= self.first:
            self.tokens += int(batch["lengths_cpu"].sum())
        if batch_idx == self.last:
            self.train_end = self.cell.clock()

    def on_fit_end(self, trainer, module) -> None:
        self.end = self.cell.clock()


def framework_train(cell: Cell) -> dict[str, float]:
    """``trainer.fit`` with the config's callbacks (checkpoints, progress bar, ...), loggers and
    trainer settings, for one epoch of ``warmup + batches`` steps and ``val_batches`` dev
    batches (the cell's config sets those limits)."""
    run_dir = cell.output_dir / "framework"
    shutil.rmtree(run_dir, ignore_errors=True)
    cfg = cell.cfg
    L.seed_everything(cfg.seed, verbose=False)
    module = hydra.utils.instantiate(cfg.model, _recursive_=False)
    timer = WindowTimer(cell)
    callbacks = [*instantiate_callbacks(cfg.get("callbacks")), timer]
    loggers = instantiate_loggers(cfg.get("logger"))
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
    start = time.perf_counter()
    trainer.fit(module, datamodule=cell.datamodule)
    fit_s = cell.clock() - start
    return {
        "train_tokens_per_s": timer.tokens / (timer.train_end - timer.start),
        "epoch_s": timer.end - timer.start,
        "fit_s": fit_s,
    }


# ----- (c) inference: Predictor against a plain loop -----
def plain_predict(cell: Cell, module: TaggerModule) -> float:
    """Tokens/s of collate, transfer, forward and decoding to host ids, under inference mode."""
    dataset, tagger = cell.datamodule.datasets["train"], module.tagger.to(cell.device).eval()
    collate = partial(collate_batch, pad_values=cell.datamodule.featurizer.pad_values)
    tokens, start = 0, 0.0
    with torch.inference_mode(), cell.autocast():
        for step, rows in enumerate(cell.index_batches()):
            if step == cell.warmup:
                start = cell.clock()
            batch = batch_to_device(collate(dataset.__getitems__(rows)), cell.device)
            tagger.decode(batch)["tags"].cpu()  # (N, L) on the host
            tokens += int(batch["lengths_cpu"].sum()) if step >= cell.warmup else 0
    return tokens / (cell.clock() - start)


def predictor_predict(cell: Cell, module: TaggerModule) -> float:
    """Tokens/s of ``Predictor.predict`` on the same sentences, one call per batch: features
    from strings, collate, transfer, forward, decoding and tag strings."""
    size = int(cell.cfg.data.batch_size)
    predictor = Predictor(module, device=cell.device, batch_size=size, window=size)
    tokens, start = 0, 0.0
    with cell.autocast():
        for step, sentences in enumerate(sentence_batches(cell)):
            if step == cell.warmup:
                start = cell.clock()
            predictor.predict(sentences)
            tokens += sum(map(len, sentences)) if step >= cell.warmup else 0
    return tokens / (cell.clock() - start)


def sentence_batches(cell: Cell) -> list[list[list[str]]]:
    """The token lists of the cell's batches (read before any clock starts)."""
    encoded = cell.datamodule.encoded["train"]
    return [encoded[rows]["tokens"] for rows in cell.index_batches()]


# ----- (d) the data path -----
def data_path(cfg: DictConfig, cache_dir: str) -> float:
    """Seconds to build a datamodule and set it up (read, check, vocabularies, encode, index)
    with ``cache_dir`` as the datasets cache."""
    start = time.perf_counter()
    datamodule = hydra.utils.instantiate(cfg.data, cache_dir=cache_dir)
    datamodule.set_embedding(to_plain(cfg.model.embedding))
    datamodule.setup("fit")
    return time.perf_counter() - start


def data_cold_warm(cfg: DictConfig, repeats: int) -> Iterator[tuple[float, float]]:
    """``(cold, warm)`` seconds per repeat: an empty cache, then the same cache again. One
    round before them warms imports and in-process caches (e.g. the vector store)."""
    for repeat in range(repeats + 1):
        with tempfile.TemporaryDirectory(prefix="bench_cache_") as cache_dir:
            cold, warm = data_path(cfg, cache_dir), data_path(cfg, cache_dir)
        if repeat:
            yield cold, warm


# ----- (e) the loss on both layouts -----
def loss_layouts(
    shape: tuple[int, int], classes: int, cell: Cell, reps: int
) -> tuple[float, float]:
    """Median ms of cross-entropy forward + backward from ``(N, L, C)`` logits: the permuted
    ``(N, C, L)`` path and the flattened ``(N*L, C)`` one (values checked equal)."""
    dtype = torch.bfloat16 if cell.precision == "bf16" else torch.float32
    logits, targets = make_inputs(shape, classes, cell.device, dtype)
    tolerance = 3e-2 if dtype == torch.bfloat16 else 1e-4  # bf16: ~1% apart at C = 32,000
    torch.testing.assert_close(
        path_flat(logits, targets), path_ncl(logits, targets), atol=tolerance, rtol=tolerance
    )
    ncl, flat = time_paths([path_ncl, path_flat], logits, targets, reps, cell.device)
    return ncl, flat


def batch_shape(cell: Cell) -> tuple[int, int]:
    """``(N, L)`` of the cell's first timed batch."""
    rows = cell.index_batches()[cell.warmup]
    lengths = cell.datamodule.datasets["train"].lengths
    return len(rows), max(lengths[i] for i in rows)
