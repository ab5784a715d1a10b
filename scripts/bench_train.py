"""Training throughput of the default BiLSTM on UD English-EWT: Lightning vs a hand-written loop.

    python scripts/bench_train.py [--batches 200] [--repeats 2] [overrides ...]

Both run the same model config, the same batches (the datamodule's bucketed train loader) and the
same optimizer step with gradient clipping, in the same process, alternating. The Lightning run
is TaggerModule under a Trainer (metrics, the loss contract's checks, logging hooks included;
no validation, no checkpointing, no progress bar); the hand-written loop calls F.cross_entropy
directly. Prints training tokens/s for each and the overhead of the framework.
"""

from __future__ import annotations

import argparse
import time

import hydra
import lightning as L
import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir

from seqtagger.constants import IGNORE_INDEX
from seqtagger.train import CONFIG_DIR


class EpochTimer(L.Callback):
    """Wall time and real tokens of the training epoch (the loop itself, not Trainer set-up)."""

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.start, self.tokens = time.perf_counter(), 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.tokens += int(batch["lengths"].sum())

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.seconds = time.perf_counter() - self.start


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


def build_model(model_cfg, data_info):
    """The config's ``TaggerModule`` sized by ``data_info``. Instantiated as a partial first:
    vocabularies passed through ``instantiate`` become OmegaConf nodes (3 s for EWT's)."""
    factory = hydra.utils.instantiate(model_cfg, _recursive_=False, _partial_=True)
    return factory(data_info=data_info)


def build(cfg, datamodule):
    L.seed_everything(0, verbose=False)
    return build_model(cfg.model, datamodule.data_info())


def run_lightning(cfg, datamodule, batches: int) -> float:
    module = build(cfg, datamodule)
    timer = EpochTimer()
    trainer = L.Trainer(
        **TRAINING_ONLY,
        accelerator="cpu",
        max_epochs=1,
        limit_train_batches=batches,
        gradient_clip_val=5.0,
        callbacks=[timer],
    )
    trainer.fit(module, datamodule=datamodule)
    return timer.tokens / timer.seconds


def run_by_hand(cfg, datamodule, batches: int) -> float:
    module = build(cfg, datamodule)
    tagger = module.tagger.train()
    optimizer = hydra.utils.instantiate(cfg.model.optimizer)(params=tagger.parameters())
    loader = datamodule.train_dataloader()
    tokens, start = 0, time.perf_counter()
    for step, batch in enumerate(loader):
        if step == batches:
            break
        logits = tagger(batch)  # (N, L, C)
        loss = F.cross_entropy(logits.permute(0, 2, 1), batch["tag_ids"], ignore_index=IGNORE_INDEX)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(tagger.parameters(), 5.0)
        optimizer.step()
        tokens += int(batch["lengths"].sum())
    return tokens / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. data.batch_size=64")
    args = parser.parse_args()
    with initialize_config_dir(version_base="1.3", config_dir=CONFIG_DIR):
        # no validation runs here, so a scheduler that steps on a val metric cannot be used
        cfg = compose(config_name="train", overrides=["model.scheduler=null", *args.overrides])
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.setup("fit")
    print(f"torch threads: {torch.get_num_threads()}, batch_size: {cfg.data.batch_size}")
    results: dict[str, list[float]] = {"lightning": [], "by hand": []}
    for _ in range(args.repeats):
        results["by hand"].append(run_by_hand(cfg, datamodule, args.batches))
        results["lightning"].append(run_lightning(cfg, datamodule, args.batches))
    for name, values in results.items():
        print(f"{name:>9}: " + ", ".join(f"{v:,.0f}" for v in values) + " train tokens/s")
    best_hand, best_lightning = max(results["by hand"]), max(results["lightning"])
    print(f"framework overhead: {100 * (best_hand / best_lightning - 1):+.1f}% (best of each)")


if __name__ == "__main__":
    main()
