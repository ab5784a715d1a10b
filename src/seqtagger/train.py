"""``seqtagger-train``: fit a tagger, then test its best checkpoint.

Thin on purpose: everything is built from the config (``configs/train.yaml``) by ``_target_``.
Examples::

    seqtagger-train                                   # UD English-EWT UPOS, BiLSTM
    seqtagger-train data=conll2003 model=bilstm trainer.max_epochs=30
    seqtagger-train experiment=ud_ewt_transformer trainer=gpu
    seqtagger-train run_name=ewt ckpt_path=auto       # resume that run in its own folder
    seqtagger-train experiment=conll2003_bilstm hparams_search=bilstm_optuna   # Optuna search
"""

from __future__ import annotations

import os
from pathlib import Path

import hydra
import lightning as L
from lightning import LightningDataModule, LightningModule, Trainer
from omegaconf import DictConfig

from seqtagger.strip import check_resumable
from seqtagger.training.artifacts import (
    best_checkpoint,
    log_hparams,
    report_single_tag,
    save_vocabs,
    saved_best,
    scalar_metrics,
)
from seqtagger.training.calibration import calibrate_after_training
from seqtagger.training.faults import out_of_memory_hint, stopped_by_sigterm
from seqtagger.training.model_card import write_model_card
from seqtagger.training.runs import check_run_folder, with_run_checkpoint
from seqtagger.training.settings import (
    check_trained_with,
    command_line_keys,
    trained_with,
    use_checkpoint_settings,
)
from seqtagger.training.startup import (
    check_cpu_precision,
    check_devices,
    check_monitors,
    check_optimized_metric,
    check_run_length,
    check_seed,
    check_test_only,
    prepare_before_launch,
    resolve_ckpt_path,
)
from seqtagger.training.summary import RunResult, log_summary
from seqtagger.training.sweep import (
    hydra_settings,
    in_search,
    optimized_value,
    register_search_resolvers,
    run_trial,
)
from seqtagger.utils.cli import run_hydra_entry, user_errors
from seqtagger.utils.config import (
    apply_extras,
    instantiate_callbacks,
    instantiate_loggers,
    save_resolved_config,
    write_json,
)
from seqtagger.utils.console import quiet_known_noise
from seqtagger.utils.pylogger import RankedLogger, remove_file_handlers
from seqtagger.utils.slurm import register_resolvers
from seqtagger.utils.targets import to_plain

PROG = "seqtagger-train"
log = RankedLogger(__name__, rank_zero_only=True)
register_resolvers()  # before Hydra resolves the run folder's name
register_search_resolvers()  # before the Optuna sweeper resolves its sampler's seed

# configs/ at the repository root; the package's `configs` links to it in a checkout and is a
# copy inside a wheel, so installed commands find the same configs
CONFIG_DIR = os.environ.get("SEQTAGGER_CONFIG_DIR") or str(Path(__file__).parent / "configs")


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit (unless ``train=false``) and test; return the final metrics as floats."""
    return run(cfg).metrics


def run(cfg: DictConfig) -> RunResult:
    """Fit (unless ``train=false``) and test; return the metrics, run folder and best
    checkpoint, which the console's last lines name too."""
    quiet_known_noise()
    if cfg.get("seed") is not None:  # seed 0 is honoured
        L.seed_everything(check_seed(cfg.seed), workers=True)

    output_dir = Path(cfg.paths.output_dir)
    check_run_folder(cfg, output_dir, in_search(cfg, hydra_settings()))
    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), output_dir)
    if cfg.get("train") and ckpt_path is not None:
        check_resumable(ckpt_path)
    record = trained_with(ckpt_path) if ckpt_path is not None else None
    if record is not None and not cfg.get("train"):  # test the model as it was trained
        use_checkpoint_settings(cfg, record, command_line_keys())
    log.debug(f"Instantiating datamodule <{cfg.data._target_}>")
    datamodule: LightningDataModule = hydra.utils.instantiate(cfg.data)
    datamodule.set_embedding(to_plain(cfg.model.embedding))  # encode for the model's embedder
    log.debug(f"Instantiating model <{cfg.model._target_}>")
    # a checkpoint gives the weights: the embedder's vectors file is then not read
    model: LightningModule = hydra.utils.instantiate(
        cfg.model, _recursive_=False, read_pretrained=ckpt_path is None
    )
    callbacks = instantiate_callbacks(cfg.get("callbacks"))
    callbacks = with_run_checkpoint(callbacks, output_dir, cfg.trainer)
    loggers = instantiate_loggers(cfg.get("logger"))
    check_devices(cfg.trainer)
    log.debug(f"Instantiating trainer <{cfg.trainer._target_}>")
    trainer: Trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)

    if cfg.get("train"):
        check_run_length(trainer)
        check_monitors(cfg, datamodule, trainer)
    else:
        check_test_only(cfg, datamodule, ckpt_path)
    check_optimized_metric(cfg, datamodule, trainer)
    check_cpu_precision(cfg, trainer)
    prepare_before_launch(trainer, datamodule)
    if record is not None:
        check_trained_with(cfg, datamodule, record, ckpt_path)
    if trainer.is_global_zero:
        save_resolved_config(cfg, output_dir)
    else:  # one train.log per run: rank 0's; the other ranks log to the console
        remove_file_handlers()

    if cfg.get("train"):
        log.info("Starting training")
        with out_of_memory_hint(trainer), stopped_by_sigterm(trainer, PROG):
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
        if trainer.is_global_zero:
            save_vocabs(datamodule, output_dir / "vocab")
    fit_metrics = scalar_metrics(trainer.callback_metrics)

    test_metrics: dict[str, float] = {}
    if cfg.get("test") and not datamodule.has_split("test"):
        log.warning("test=true but the data has no test split: skipping the test stage")
    elif cfg.get("test"):
        log.info("Starting testing")
        tested = best_checkpoint(trainer) if cfg.get("train") else ckpt_path
        with out_of_memory_hint(trainer), stopped_by_sigterm(trainer, PROG):
            trainer.test(model, datamodule=datamodule, ckpt_path=tested)
        log.info(f"Tested checkpoint: {tested}")
        test_metrics = {
            name: value
            for name, value in scalar_metrics(trainer.callback_metrics).items()
            if name.startswith("test/")
        }

    metrics = {**fit_metrics, **test_metrics}
    best = saved_best(trainer) if cfg.get("train") else ckpt_path
    result = RunResult(metrics, output_dir, Path(best) if best else None, test_metrics)
    if trainer.is_global_zero:
        report_single_tag(model)
        calibrate_after_training(cfg, trainer, datamodule)
        write_json(test_metrics or metrics, output_dir / "metrics.json")
        write_model_card(cfg, trainer, model, datamodule)
        log_hparams(cfg, loggers, metrics)
        log_summary(result)
    return result


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def hydra_main(cfg: DictConfig) -> float | None:
    """Console entry point; returns ``optimized_metric`` for Hydra sweepers. Bad input (a
    corpus, a checkpoint, a config value) ends in one message and exit code 2; in a search a
    failed trial is logged with its parameters and scores the worst value, and the search goes
    on (``seqtagger.training.sweep``)."""
    apply_extras(cfg)
    hydra_cfg = hydra_settings()
    with user_errors(PROG):
        if in_search(cfg, hydra_cfg):
            return run_trial(cfg, train, hydra_cfg)
        return optimized_value(cfg, train(cfg))


def main() -> float | None:
    """Console entry point (``seqtagger-train``): Hydra's own errors on bad input (a config
    group choice that does not exist, a run folder that cannot be created) end in one line and
    exit code 2 too."""
    return run_hydra_entry(PROG, hydra_main, CONFIG_DIR)


if __name__ == "__main__":
    main()
