"""``TaggerModule``: the LightningModule that trains, scores and serves a ``Tagger``.

What it owns, and why:
- The model is built from plain config dicts (``embedding``/``encoder``/``head``/``heads``
  with ``_target_``) and from the data's record: vocabularies and tasks (``data/info.py``).
  Hyperparameters are plain values only (no ``nn.Module`` or ``functools.partial`` objects),
  and the vocabularies and tasks travel in the checkpoint (``seqtagger.checkpoint``); a
  checkpoint alone rebuilds the model and loads with ``torch.load(weights_only=True)`` (see
  ``from_checkpoint``).
- The tagger owns the tasks' losses and decoding (``Tagger.step``: each head's ``loss`` and
  ``decode``, losses summed with the tasks' weights): nothing here is head- or task-specific.
  Targets are range-checked on the host in ``on_before_batch_transfer``, where that costs no
  device sync, and the lengths' CPU copy (``lengths_cpu``, for packing) is kept on the host in
  ``transfer_batch_to_device``.
- Metrics are one ``StageMetrics`` per stage, one set per task (``seqtagger.metrics.stages``:
  sum-reduced states, correct under DDP; named per task when there are several). No per-step
  host sync is needed for logging: values stay on the device until Lightning logs them.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from lightning import LightningModule
from torch import Tensor, nn
from torchmetrics import MaxMetric

from seqtagger.checkpoint import (
    BEST_KEY,
    CHECKPOINT_KEY,
    add_seqtagger_data,
    check_fits,
    migrate,
    paths_under_folders,
)
from seqtagger.data.batch import HOST_KEYS
from seqtagger.data.featurizers import Featurizer
from seqtagger.data.tasks import Task, headline_task
from seqtagger.data.vocab import Vocab
from seqtagger.errors import ConfigError
from seqtagger.metrics.predicted import PredictedTags
from seqtagger.metrics.stages import STAGES, stage_metrics
from seqtagger.models.loss import IGNORE_INDEX, check_targets
from seqtagger.models.options import check_model_options
from seqtagger.models.tagger import StepResult, Tagger
from seqtagger.models.trained import TrainedTagger, read_trained
from seqtagger.training.optim import build_optimizer, build_scheduler, total_steps
from seqtagger.utils.targets import to_plain

# Two Lightning warnings that do not apply here, silenced so real ones stand out: the module
# overrides on_before_batch_transfer and transfer_batch_to_device on purpose (host-side target
# checks, the lengths' host copy) and is used with a datamodule; and epoch-level values come from
# torchmetrics' compute(), already reduced across ranks, so sync_dist would only average equal
# numbers.
warnings.filterwarnings(
    "ignore",
    message=r".*overridden `(on_before_batch_transfer|transfer_batch_to_device)` in `Lightni",
)
warnings.filterwarnings("ignore", message=r".*recommended to use `self\.log\('(val|test|train)/")


# best-so-far trackers: their states are not in the state dict, so checkpoints carry the values
TRACKERS = {"val/acc_best": "val_acc_best", "val/f1_best": "val_f1_best"}


class TaggerModule(LightningModule):
    """Embedding + encoder + head, trained with the (N, C, L) cross-entropy contract.

    Args:
        embedding / encoder / head: plain dicts with ``_target_`` (see ``configs/model``).
        memory: an optional fourth part between encoder and head (``model/memory=document``).
        heads: task -> a head config of its own (``model.heads.pos``); the others take
            ``head``.
        optimizer: a ``_partial_`` optimizer config, called with the parameters.
        scheduler: an optional ``_partial_`` scheduler config; a value ``"auto"`` for
            ``total_steps`` is replaced by the trainer's estimated number of steps.
        scheduler_interval: ``epoch`` or ``step``, how often the scheduler is stepped.
        scheduler_monitor: the metric a scheduler that reads one (``ReduceLROnPlateau``) reads;
            None: the dev headline metric. Each ``configs/model/scheduler`` file sets both.
        label_smoothing / probability_check: loss options handed to the head (see
            ``seqtagger.models.heads.Head``).
        train_scores_every: score every k-th training batch for ``train/acc`` (and span F1);
            the loss counts every batch. Decoding each batch (a CRF's Viterbi) cost 20% of a
            CPU training step; 1 scores them all.
        data_info: vocabularies and schemes as plain data; taken from the datamodule at
            ``setup`` when not given (a checkpoint gives it).
        read_pretrained: False when the weights will come from a checkpoint: the embedder's
            ``pretrained`` vectors file is then not read (it may be gone, and is slow to parse).
    """

    def __init__(
        self,
        embedding: Mapping[str, Any],
        encoder: Mapping[str, Any],
        head: Mapping[str, Any],
        optimizer: Mapping[str, Any],
        scheduler: Mapping[str, Any] | None = None,
        scheduler_interval: str = "epoch",
        scheduler_monitor: str | None = None,
        label_smoothing: float = 0.0,
        probability_check: str = "warn",
        train_scores_every: int = 10,
        data_info: Mapping[str, Any] | None = None,
        read_pretrained: bool = True,
        memory: Mapping[str, Any] | None = None,
        heads: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 <= float(label_smoothing) <= 1.0:
            raise ConfigError(
                f"model.label_smoothing={label_smoothing}: expected a value in [0, 1] "
                "(0 = none, 0.1 is usual)"
            )
        if int(train_scores_every) < 1:
            raise ConfigError(
                f"model.train_scores_every={train_scores_every}: expected an integer >= 1 "
                "(1 = score every training batch)"
            )
        self.save_hyperparameters(
            {
                "embedding": to_plain(embedding),
                "encoder": to_plain(encoder),
                "head": to_plain(head),
                "memory": to_plain(memory),
                "heads": to_plain(heads),
                "optimizer": to_plain(optimizer),
                "scheduler": to_plain(scheduler),
                "scheduler_interval": scheduler_interval,
                "scheduler_monitor": scheduler_monitor,
                "label_smoothing": float(label_smoothing),
                "probability_check": probability_check,
                "train_scores_every": int(train_scores_every),
            },
            logger=False,
        )
        parts = ("embedding", "encoder", "memory", "head", "optimizer", "scheduler")
        check_model_options({part: self.hparams[part] for part in parts})
        own_heads = self.hparams.get("heads") or {}
        check_model_options({f"heads.{task}": config for task, config in own_heads.items()})
        self.read_pretrained = read_pretrained
        self.data_info: dict[str, Any] | None = None
        self.tagger: Tagger | None = None
        self._resumed_best: dict[str, float] = {}
        self._resumed_total_steps: int | None = None
        if data_info is not None:
            self._build(data_info)

    # ----- building from the data -----
    def _build(self, data_info: Mapping[str, Any]) -> None:
        """Size the model, its featurizer and the metrics from the data's vocabularies."""
        built = TrainedTagger.build(self.hparams, data_info, self.read_pretrained)
        self.data_info = built.data_info
        self.vocabs: dict[str, Vocab] = built.vocabs
        self.tasks: list[Task] = built.tasks
        self.task_labels: dict[str, list[str]] = built.task_labels
        self.tagger = built.tagger
        self.featurizer: Featurizer = built.featurizer
        self.metrics = {
            stage: stage_metrics(self.tasks, self.task_labels, stage) for stage in STAGES
        }
        self.metric_modules = nn.ModuleList(self.metrics.values())  # moves with the module
        self.val_acc_best = MaxMetric()
        self.val_f1_best = MaxMetric()
        self.predicted_tags = PredictedTags(self.labels, self.has_spans)

    @property
    def labels(self) -> list[str]:
        """The headline task's labels (index -> tag, in its train scheme)."""
        return self.task_labels[headline_task(self.tasks).name]

    @property
    def max_word_length(self) -> int:
        return int((self.data_info or {}).get("max_word_length", 20))

    @property
    def has_spans(self) -> bool:
        """Whether the headline task is a span layer (scored by span F1)."""
        return headline_task(self.tasks).has_spans

    def setup(self, stage: str) -> None:
        self.configure_model()

    def configure_model(self) -> None:
        """Build the model from the datamodule's vocabularies (unless a checkpoint did).

        Lightning's hook for building layers: callbacks that copy the model in their own setup
        (weight averaging) call it first, so the copy holds the layers."""
        if self.tagger is not None:
            return
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is None or not hasattr(datamodule, "data_info"):
            raise RuntimeError(
                "TaggerModule needs a TaggingDataModule (or data_info) to size itself"
            )
        self._build(datamodule.data_info())

    # ----- forward and the loss contract -----
    def forward(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Return each task's logits (N, L, C) for a collated batch."""
        return self.tagger(batch)

    def on_before_batch_transfer(self, batch: dict[str, Tensor], dataloader_idx: int) -> Any:
        """Range-check targets while they are still on the host (no device sync). On the CPU
        the loss checks them itself, so this only runs for batches bound for an accelerator."""
        if self.tagger is None or self.device.type == "cpu":
            return batch
        for task in self.tasks:
            if task.ids_key in batch:
                unseen = task.unknown_labels == "score_as_error"
                num_labels = len(self.task_labels[task.name]) + unseen
                check_targets(batch[task.ids_key], num_labels, ignore_index=IGNORE_INDEX)
        return batch

    def transfer_batch_to_device(
        self, batch: Any, device: torch.device, dataloader_idx: int
    ) -> Any:
        """Lightning's transfer for every tensor except ``HOST_KEYS``: ``lengths_cpu`` stays on
        the host, where the BiLSTM's packing reads it without waiting for the device."""
        if not isinstance(batch, Mapping):
            return super().transfer_batch_to_device(batch, device, dataloader_idx)
        host = {key: batch[key] for key in HOST_KEYS if key in batch}
        rest = {key: value for key, value in batch.items() if key not in host}
        return {**super().transfer_batch_to_device(rest, device, dataloader_idx), **host}

    def model_step(self, batch: Mapping[str, Tensor], decode: bool = True) -> StepResult:
        """The tagger's losses and, when ``decode``, its decoded tag ids (``Tagger.step``)."""
        return self.tagger.step(batch, decode)

    def ill_formed_gold(self, batch: Mapping[str, Tensor]) -> list[tuple[int, str]]:
        """``(row, why)`` for each sentence whose gold tags a head forbids (``Tagger``)."""
        return self.tagger.ill_formed_gold(batch)

    def _update_metrics(self, stage: str, step: StepResult, batch: Mapping) -> None:
        gold = {task.name: batch[task.ids_key] for task in self.tasks}
        tokens = batch["lengths"].sum()
        self.metrics[stage].update(step.losses, step.loss, tokens, step.predicted, gold)
        if step.predicted is not None:
            headline = headline_task(self.tasks)
            self.predicted_tags.update(stage, step.predicted[headline.name], gold[headline.name])

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        decode = batch_idx % self.hparams.train_scores_every == 0
        step = self.model_step(batch, decode=decode)
        self._update_metrics("train", step, batch)
        if self._logs_this_step():
            self.log("train/loss_step", step.loss.detach(), on_step=True, on_epoch=False)
        return step.loss

    def _logs_this_step(self) -> bool:
        """Whether the loggers write this step (every ``trainer.log_every_n_steps``): only then
        is the step loss handed to ``self.log``, whose bookkeeping costs more than the check
        (the condition Lightning's own ``LearningRateMonitor`` reads)."""
        trainer = self.trainer
        return bool(trainer.fast_dev_run) or trainer._logger_connector.should_update_logs

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        if batch:  # empty: a rank's share of a split with fewer documents than ranks
            self._update_metrics("val", self.model_step(batch), batch)

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        if batch:
            self._update_metrics("test", self.model_step(batch), batch)

    # ----- epoch ends: log metric values (one sync per epoch, not per step) -----
    def _log_stage(self, stage: str) -> dict[str, Tensor]:
        values = self.metrics[stage].compute()
        self.log_dict(
            {f"{stage}/{name}": value for name, value in values.items()},
            prog_bar=False,
            sync_dist=False,  # torchmetrics states are already reduced across ranks
        )
        self.metrics[stage].reset()
        self.predicted_tags.end_epoch(stage, note=not self.trainer.sanity_checking)
        return values

    def epoch_so_far(self, stage: str) -> dict[str, float]:
        """``{"loss": ..., "acc": ...}``: the stage's mean loss and token accuracy over the
        epoch's batches so far (those updated yet), for ``EpochSummary``'s line, which Lightning
        writes before this module's epoch end logs and resets them. One host read per value."""
        metrics = self.metrics[stage]
        parts = {"loss": metrics.loss, "acc": metrics.scores["acc"]}
        return {name: float(m.compute()) for name, m in parts.items() if m.update_called}

    def on_train_start(self) -> None:
        # the sanity check's validation must not leak into the first epoch's numbers
        self.metrics["val"].reset()
        # a resumed run continues the best values of the epochs before it
        for name, attribute in TRACKERS.items():
            tracker = getattr(self, attribute)
            tracker.reset()
            if name in self._resumed_best:
                tracker.update(torch.tensor(self._resumed_best[name], device=self.device))

    def on_train_epoch_end(self) -> None:
        self._log_stage("train")

    def on_validation_epoch_end(self) -> None:
        values = self._log_stage("val")
        if self.trainer.sanity_checking:
            return
        self.val_acc_best(values["acc"])
        self.log("val/acc_best", self.val_acc_best.compute(), prog_bar=self.headline == "acc")
        if self.has_spans:
            self.val_f1_best(values["f1"])
            self.log("val/f1_best", self.val_f1_best.compute(), prog_bar=self.headline == "f1")

    def on_test_epoch_end(self) -> None:
        self._log_stage("test")

    @property
    def headline(self) -> str:
        """The metric that selects checkpoints: ``acc`` (POS) or ``f1`` (NER)."""
        return self.data_info["headline"] if self.data_info else "acc"

    # ----- optimisation -----
    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = self._optimizer()
        if not self.hparams.scheduler:
            return {"optimizer": optimizer}
        lr_scheduler = build_scheduler(
            self.hparams.scheduler,
            optimizer,
            steps=lambda: total_steps(self.trainer, self._resumed_total_steps),
            interval=self.hparams.scheduler_interval,
            monitor=self.hparams.get("scheduler_monitor") or f"val/{self.headline}",
        )
        return {"optimizer": optimizer, "lr_scheduler": lr_scheduler}

    def _optimizer(self) -> torch.optim.Optimizer:
        named = ((name.removeprefix("tagger."), p) for name, p in self.named_parameters())
        precision = str(self._trainer.precision) if self._trainer is not None else ""
        mixed = precision.endswith("-mixed")
        return build_optimizer(self.hparams.optimizer, named, mixed_precision=mixed)

    # ----- checkpoints carry their own vocabularies (see seqtagger.checkpoint) -----
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        best = {name: getattr(self, attribute) for name, attribute in TRACKERS.items()}
        add_seqtagger_data(checkpoint, self.data_info, best)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse a checkpoint that does not fit (before Lightning loads it, in this format),
        and restore what the state dict lacks; checkpoint callbacks get their paths in this run
        folder."""
        trainer = self._trainer
        source = f"ckpt_path={trainer.ckpt_path}: " if trainer is not None else ""
        migrate(checkpoint, source)
        check_fits(checkpoint, self.data_info, self.hparams, self.state_dict(), source)
        if trainer is not None:
            folders = {
                callback.state_key: callback.dirpath for callback in trainer.checkpoint_callbacks
            }
            paths_under_folders(checkpoint, folders)
        self._resumed_best = dict(checkpoint.get(BEST_KEY) or {})
        schedulers = checkpoint.get("lr_schedulers") or [{}]
        self._resumed_total_steps = schedulers[0].get("total_steps")

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        map_location: str | torch.device = "cpu",
        vectors: str | None = None,
        named_by: str = "ckpt_path",
    ) -> TaggerModule:
        """Rebuild a trained module from a checkpoint file alone (``weights_only=True`` load).
        A vector store is found by its checksum; ``vectors`` names its folder when it moved.
        ``named_by``: the option that gave ``path``, for messages (``--ckpt``)."""
        checkpoint = read_trained(path, map_location, vectors, named_by)
        module = cls(
            **checkpoint["hyper_parameters"],
            data_info=checkpoint[CHECKPOINT_KEY],
            read_pretrained=False,  # the weights are in the state dict
        )
        module.load_state_dict(checkpoint["state_dict"])
        module.eval()
        return module
