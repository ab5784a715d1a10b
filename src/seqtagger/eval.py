"""``seqtagger-eval``: score a checkpoint on one or more held-out sets.

    seqtagger-eval ckpt_path=logs/train/runs/ewt/checkpoints/epoch_009.ckpt
    seqtagger-eval ckpt_path=... +sets.gum=gum-test.conllu \
        '+sets.dev={corpus: ud_ewt, split: validation}'

The model, its vocabularies and schemes come from the checkpoint (loaded with
``weights_only=True``); each set is read with a reader chosen by file suffix or given in the
set's config (``seqtagger.evaluation.sets``). Results go to ``<output_dir>/<set>/`` (see
``seqtagger.evaluation.writing``) and TensorBoard; ``metrics.json`` is rewritten after each set,
so Ctrl-C or a failure keeps the sets already scored. Bad input, and a GPU out of memory, end in
one message naming the file, line or config key, and exit code 2.

With ``calibration=true`` (the default) each task also gets the expected calibration error of
its confidences at temperature 1 and at the checkpoint's stored temperature, and its reliability
data and diagram (``seqtagger.evaluation.calibration``).

A model of several tasks is scored on every task (``tasks=[upos,xpos]``: those only) from one
model pass per set: each task's files go to ``<set>/<task>/``, and ``metrics.json`` holds per
set the training run's names without the stage (``upos/acc``, ``ner/f1``; ``acc`` and ``f1``:
the headline task's).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig

from seqtagger.checkpoint import model_settings, refuse_changed_settings
from seqtagger.data.info import stored_temperatures
from seqtagger.data.tasks import headline_task
from seqtagger.errors import ConfigError
from seqtagger.evaluation import (
    SetResult,
    log_results,
    resolve_sets,
    score_set,
    score_set_tasks,
    scoring_predictor,
    set_layers,
    set_summary,
    write_results,
)
from seqtagger.evaluation.calibration import SetConfidences, add_calibration, write_calibration
from seqtagger.inference import Predictor
from seqtagger.lightning_module import TaggerModule
from seqtagger.train import CONFIG_DIR
from seqtagger.training.faults import reraise_out_of_memory
from seqtagger.training.settings import settings_given
from seqtagger.utils.cli import run_hydra_entry, user_errors
from seqtagger.utils.config import apply_extras, write_json
from seqtagger.utils.console import (
    NORMAL,
    VERBOSE,
    quiet_known_noise,
    set_console_verbosity,
    take_verbosity_flags,
)
from seqtagger.utils.pylogger import RankedLogger

log = RankedLogger(__name__, rank_zero_only=True)

SUMMARY_KEYS = ("acc", "precision", "recall", "f1", "strict/f1")
KEEPS_SETTINGS = "leave those keys out: seqtagger-eval scores the model as it was trained"


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


def evaluate(cfg: DictConfig) -> dict[str, dict[str, Any]]:
    """Score the checkpoint on every set; returns ``{set: metrics}`` and writes the reports."""
    batch_size = cfg.batch_size
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size={batch_size}: expected an integer >= 1")
    ckpt_path = Path(cfg.ckpt_path)
    module = TaggerModule.from_checkpoint(ckpt_path, vectors=cfg.get("vectors"))
    trained = model_settings(module.hparams, module.data_info)
    refuse_changed_settings(
        trained, settings_given(cfg, trained), f"ckpt_path={ckpt_path}: ", KEEPS_SETTINGS
    )
    device = eval_device(cfg.get("device", "auto"))
    predictor = Predictor(
        module, device=device, batch_size=batch_size, tasks=_task_names(cfg.get("tasks"))
    )
    predictor = scoring_predictor(predictor)  # every task in the scheme it was trained in
    several = len(module.tasks) > 1
    sets = resolve_sets(cfg, predictor.task.file_scheme, several)
    if several:  # each task's gold scheme checked before any set is tagged
        for held_out in sets.values():
            set_layers(held_out, predictor.tasks, predictor.task_labels, predictor.task)
    headline = headline_task(module.tasks).name
    temperatures = stored_temperatures(module.data_info)

    output_dir = Path(cfg.paths.output_dir)
    writer = _tensorboard(output_dir) if cfg.get("tensorboard", True) else None
    results: dict[str, dict[str, Any]] = {}
    summaries: dict[str, dict[str, Any]] = {}
    try:
        for name, held_out in sets.items():
            log.info(f"Scoring <{name}>: {held_out.source}")
            confidences = None
            if cfg.get("calibration", True):
                confidences = SetConfidences(predictor, module.tagger, temperatures)
            with _out_of_memory_hint(name, batch_size):
                if several:
                    by_task = score_set_tasks(predictor, held_out, confidences)
                else:
                    by_task = {predictor.task.name: score_set(predictor, held_out, confidences)}
            if confidences is not None:
                write_calibration(by_task, add_calibration(by_task, confidences), output_dir)
            folder = write_results(by_task, output_dir)
            summaries[name] = set_summary(by_task, headline)
            if writer is not None:
                log_results(by_task, summaries[name], writer, worst=cfg.get("worst_sentences", 5))
            results[name] = summaries[name] if several else by_task[predictor.task.name].metrics
            # after every set: an interrupted or failed run keeps the sets already scored
            write_json(summaries, output_dir / "metrics.json")
            log.info(f"<{name}> {_summary(by_task)} -> {folder}")
    except BaseException as stop:  # Ctrl-C or an error: say how far it got, then stop
        what = "Interrupted" if isinstance(stop, KeyboardInterrupt) else "Stopped by an error"
        done = ", ".join(results) or "none"
        log.warning(
            f"{what}: {len(results)} of {len(sets)} sets scored ({done}); their reports "
            f"and metrics.json are in {output_dir}"
        )
        raise
    finally:
        if writer is not None:
            writer.close()
    return results


def _out_of_memory_hint(name: str, batch_size: int) -> AbstractContextManager[None]:
    """A CUDA out-of-memory error while scoring set ``name`` as one message with the way out."""
    smaller = max(batch_size // 4, 1)
    return reraise_out_of_memory(
        lambda cause: (
            f"out of GPU memory scoring <{name}> with batch_size={batch_size}: give a "
            f"smaller batch_size (e.g. batch_size={smaller}) or device=cpu ({cause})"
        )
    )


def _task_names(tasks: Any) -> list[str] | None:
    """``tasks``: null (every task), a task name or a list of them."""
    if tasks is None:
        return None
    names = [tasks] if isinstance(tasks, str) else tasks
    if not isinstance(names, Sequence) or not names or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"tasks={tasks}: expected null (every task) or a list of task names")
    return list(names)


def _summary(by_task: Mapping[str, SetResult]) -> str:
    """``acc=0.9512, f1=0.8801`` (one task) or ``ner: f1=0.8801; pos: acc=0.9512``."""
    parts = {
        task: ", ".join(f"{k}={r.metrics[k]:.4f}" for k in SUMMARY_KEYS if k in r.metrics)
        for task, r in by_task.items()
    }
    if len(parts) == 1 and next(iter(by_task.values())).task is None:
        return next(iter(parts.values()))
    return "; ".join(f"{task}: {text}" for task, text in parts.items())


def _tensorboard(output_dir: Path) -> Any:
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(output_dir / "tensorboard"))


# -q/--quiet or -v/--verbose of this process's command line (Hydra's parser knows no such flags)
verbosity = NORMAL


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def hydra_main(cfg: DictConfig) -> None:
    """Evaluate the composed config: one clear message and exit code 2 on bad input."""
    quiet_known_noise()
    set_console_verbosity(verbosity)
    apply_extras(cfg)
    with user_errors("seqtagger-eval"):
        evaluate(cfg)


def main() -> None:
    """Console entry point (``seqtagger-eval``); Hydra's own errors on bad input end in one
    line and exit code 2 too. ``-q/--quiet``: warnings and errors only on the console (the
    run's ``eval.log`` keeps everything); ``-v/--verbose``: the config tree and seqtagger's
    debug messages too."""
    global verbosity
    with user_errors("seqtagger-eval"):
        verbosity, arguments = take_verbosity_flags(sys.argv[1:])
    extra = ["extras.print_config=true"] if verbosity == VERBOSE else []
    sys.argv = [sys.argv[0], *arguments, *extra]
    run_hydra_entry("seqtagger-eval", hydra_main, CONFIG_DIR)


if __name__ == "__main__":
    main()
