"""What a seqtagger checkpoint holds, its format versions, and loading it safely with clear errors.

A checkpoint is a Lightning checkpoint (``state_dict``, ``hyper_parameters``, optimizer and
scheduler states, loops, callback states) plus:

- ``"seqtagger"``: ``format`` (:data:`CHECKPOINT_FORMAT`) and the data the model was sized from,
  as plain JSON-like values (``data/info.py``'s ``DataInfo``): ``vocabs`` (words, chars),
  ``tasks`` (each task's name, column, schemes, head, loss weight and label map), ``headline``,
  ``max_word_length``, ``context`` and ``featurizer`` (the embedder's featurizer options; a
  pretrained transformer's also hold its tokenizer and model config, so it is rebuilt without
  its files);
- ``"seqtagger_best"``: the best validation values so far (``val/acc_best``, ``val/f1_best``),
  whose metric states are not in the state dict, so a resumed run continues them.

Hyperparameters are plain values too, so a checkpoint loads with ``torch.load(weights_only=True)``
(no code runs) and rebuilds the model alone: ``TaggerModule.from_checkpoint``.

Formats. Every change to what a checkpoint records bumps :data:`CHECKPOINT_FORMAT` and adds one
step to :data:`MIGRATIONS` that turns a checkpoint of the format before into one of the new
format; every older format still loads, evaluates and predicts to the same numbers
(``tests/checkpoints/format*/``, tested by ``tests/test_checkpoint_formats.py``). Every load goes
through :func:`migrate`: :func:`load_checkpoint` and ``TaggerModule.on_load_checkpoint`` (what
Lightning loads to resume or test). The formats:

1. the record above, with absolute file paths in the ``ModelCheckpoint`` states;
2. those paths relative to their checkpoint folder, without the folder (``dirpath``): a run
   folder can move (:func:`paths_relative_to_folder`; the running callbacks' folders are put
   back on load, :func:`paths_under_folders`);
3. tasks: the one label map and schemes become the task ``tags`` of ``tasks``, and the head's
   weights ``tagger.head.*`` are ``tagger.heads.tags.*`` (:func:`one_task`);
4. ``calibration``: the temperatures fitted for the confidences (``data/info.py``'s
   ``CalibrationRecord``, written by ``seqtagger.calibration``), None where none was fitted:
   every task's temperature is then 1, as before (:func:`no_calibration`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from seqtagger.data.info import task_labels, tasks_of
from seqtagger.data.tasks import DEFAULT_TASK, Task
from seqtagger.errors import CheckpointError

if TYPE_CHECKING:
    from torchmetrics import MaxMetric

CHECKPOINT_KEY = "seqtagger"
CHECKPOINT_FORMAT = 4
BEST_KEY = "seqtagger_best"
MODEL_PARTS = ("embedding", "encoder", "memory", "head", "heads")
# the file paths a ModelCheckpoint state holds (besides the keys of ``best_k_models``)
PATH_KEYS = ("best_model_path", "kth_best_model_path", "last_model_path")


def add_seqtagger_data(
    checkpoint: dict[str, Any], data_info: Mapping[str, Any], best: Mapping[str, MaxMetric]
) -> None:
    """Add the model's data and best-so-far values to a checkpoint being saved."""
    # a model being trained has no fitted temperatures: the end of training fits them
    checkpoint[CHECKPOINT_KEY] = {"format": CHECKPOINT_FORMAT, "calibration": None, **data_info}
    paths_relative_to_folder(checkpoint)
    # the local max state equals the global one: every rank updates with reduced values
    checkpoint[BEST_KEY] = {
        name: float(tracker.max_value) for name, tracker in best.items() if tracker.update_called
    }


def check_fits(
    checkpoint: Mapping[str, Any],
    data_info: Mapping[str, Any] | None,
    hparams: Mapping[str, Any],
    state_dict: Mapping[str, Tensor],
    source: str = "",
) -> None:
    """Refuse, before Lightning loads it, a checkpoint whose vocabularies differ from the
    data's, whose weights do not fit the model, or whose model was trained with other settings
    (:func:`model_settings`)."""
    stored = checkpoint[CHECKPOINT_KEY]
    if data_info is not None and (
        stored["vocabs"] != data_info["vocabs"] or task_labels(stored) != task_labels(data_info)
    ):
        raise CheckpointError(
            f"{source}the checkpoint's vocabularies differ from the data's: resume with the "
            "same training file and `data.vocab` options, or evaluate with seqtagger-eval"
        )
    saved = checkpoint.get("hyper_parameters") or {}
    own = {key: tuple(value.shape) for key, value in state_dict.items()}
    theirs = {key: tuple(value.shape) for key, value in checkpoint["state_dict"].items()}
    if state_dict and own != theirs:
        changes = "; ".join(changed_settings(model_settings(saved), model_settings(hparams)))
        raise CheckpointError(
            f"{source}the checkpoint's weights do not fit this model "
            f"({changes or 'weight shapes differ'}): resume with the checkpoint's model "
            "settings, or start a new run (ckpt_path=null)"
        )
    if data_info is not None:
        refuse_changed_settings(
            model_settings(saved, stored), model_settings(hparams, data_info), source
        )


# ----- the settings a model computes with -----
# a part's files (read once, or found by checksum) and speed knobs: not compared
NOT_SETTINGS = frozenset({"pretrained", "vectors", "length_groups"})
TRAINED_WITH = "use the checkpoint's values, or train a new model with these (no ckpt_path)"


def model_settings(
    hparams: Mapping[str, Any], data_info: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The settings that change what a model computes, by config key: each part's class
    (``model.head``: its ``_target_``, None for no memory) and options
    (``model.head.dropout``), ``model.label_smoothing`` and, given the data's record, its
    ``data.context``, ``data.max_word_length``, ``data.train_scheme`` and word normalisation
    (``data.vocab.lowercase``). The parts' files and speed knobs (:data:`NOT_SETTINGS`) are
    left out."""
    settings: dict[str, Any] = {}
    for part in MODEL_PARTS:
        if part in hparams:
            settings.update(_part_settings(f"model.{part}", hparams[part]))
    if "label_smoothing" in hparams:
        settings["model.label_smoothing"] = float(hparams["label_smoothing"])
    if data_info is not None:
        words = (data_info.get("vocabs") or {}).get("words") or {}
        settings["data.context"] = int(data_info.get("context", 0))
        settings["data.max_word_length"] = int(data_info.get("max_word_length", 20))
        for task in tasks_of(data_info):
            several = task.name != DEFAULT_TASK
            key = f"data.tasks.{task.name}.train_scheme" if several else "data.train_scheme"
            settings[key] = task.train_scheme
        settings["data.vocab.lowercase"] = bool(words.get("lowercase", False))
        settings["data.vocab.normalize_digits"] = bool(words.get("normalize_digits", False))
    return settings


def _part_settings(key: str, part: Any) -> dict[str, Any]:
    """``{key: class or None, key.option: value, key.extra: ..., key.extra.option: ...}``."""
    if not isinstance(part, Mapping):
        return {key: part}
    settings: dict[str, Any] = {key: part.get("_target_")}
    for name, value in part.items():
        if name in NOT_SETTINGS or name == "_target_":
            continue
        if isinstance(value, Mapping) and "_target_" in value:  # a part inside (an extra)
            settings.update(_part_settings(f"{key}.{name}", value))
        else:
            settings[f"{key}.{name}"] = value
    return settings


def changed_settings(stored: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``model.encoder.hidden_size=32 in the checkpoint, 48 here`` for every setting both
    have with another value (an option only one has belongs to a newer seqtagger or to another
    class, which its part's own key reports)."""
    return [
        f"{key}={_shown(stored[key])} in the checkpoint, {_shown(current[key])} here"
        for key in sorted(stored.keys() & current.keys())
        if stored[key] != current[key]
    ]


def _shown(value: Any) -> str:
    return "null" if value is None else str(value)


def refuse_changed_settings(
    stored: Mapping[str, Any],
    current: Mapping[str, Any],
    source: str = "",
    way_out: str = TRAINED_WITH,
) -> None:
    """One ``CheckpointError`` naming every setting changed since training and both values: a
    model keeps the settings it was trained with (resume, ``train=false``, eval)."""
    changes = changed_settings(stored, current)
    if changes:
        raise CheckpointError(
            f"{source}the model was trained with other settings ({'; '.join(changes)}); a "
            f"checkpoint's model keeps its settings: {way_out}"
        )


def checkpoint_settings(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`model_settings` of a loaded checkpoint."""
    return model_settings(checkpoint.get("hyper_parameters") or {}, checkpoint[CHECKPOINT_KEY])


# ----- loading, and older formats -----
def checkpoint_name(path: str | Path, named_by: str = "ckpt_path") -> str:
    """How messages name a checkpoint file: as the user gave it, ``ckpt_path=PATH`` (train,
    eval) or ``--ckpt PATH`` (predict)."""
    return f"{named_by} {path}" if named_by.startswith("-") else f"{named_by}={path}"


def load_checkpoint(
    path: str | Path, map_location: str | torch.device = "cpu", named_by: str = "ckpt_path"
) -> dict[str, Any]:
    """Load a seqtagger checkpoint safely (no code runs on load), in this seqtagger's format
    (:func:`migrate`), with one clear error naming the file as ``named_by`` gave it."""
    name = checkpoint_name(path, named_by)
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{name}: no such file")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        # not torch's text: it advises weights_only=False, which runs the file's code
        raise CheckpointError(
            f"{name}: not a loadable checkpoint (not written by seqtagger-train, or cut short)"
        ) from error
    if not isinstance(checkpoint, dict) or CHECKPOINT_KEY not in checkpoint:
        raise CheckpointError(f"{name}: not a seqtagger checkpoint (no vocabularies)")
    if "hyper_parameters" not in checkpoint or "state_dict" not in checkpoint:
        raise CheckpointError(f"{name}: incomplete checkpoint (no hparams or weights)")
    return migrate(checkpoint, f"{name}: ")


def migrate(checkpoint: dict[str, Any], source: str = "") -> dict[str, Any]:
    """Bring a loaded checkpoint to :data:`CHECKPOINT_FORMAT` in place, one step of
    :data:`MIGRATIONS` per format, and return it; a format this seqtagger does not know is a
    ``CheckpointError`` (``source`` starts the message)."""
    stored = checkpoint.get(CHECKPOINT_KEY) if isinstance(checkpoint, dict) else None
    if not isinstance(stored, dict):
        raise CheckpointError(f"{source}this checkpoint has no seqtagger data (vocabularies)")
    found = stored.get("format")
    if isinstance(found, bool) or not isinstance(found, int) or found < 1:
        raise CheckpointError(f"{source}checkpoint format {found!r} was never written")
    if found > CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{source}checkpoint format {found!r}, but this seqtagger reads formats up "
            f"to {CHECKPOINT_FORMAT}: it was written by a newer seqtagger; upgrade seqtagger "
            "to use it"
        )
    for version in range(found, CHECKPOINT_FORMAT):
        MIGRATIONS[version](checkpoint)
        stored["format"] = version + 1
    return checkpoint


def paths_relative_to_folder(checkpoint: dict[str, Any]) -> None:
    """The file paths of each ``ModelCheckpoint`` state made relative to its folder, which is
    dropped (format 2; done on every save too): the record holds no path of the run folder."""
    for state in (checkpoint.get("callbacks") or {}).values():
        if isinstance(state, dict) and "dirpath" in state:
            folder = state.pop("dirpath")
            _change_paths(state, lambda path, folder=folder: _relative(path, folder))


def paths_under_folders(checkpoint: dict[str, Any], folders: Mapping[str, str]) -> None:
    """Give each ``ModelCheckpoint`` state the folder of the running callback of its state key
    (``folders``) and put its relative paths under it: Lightning then restores the state (best
    score and files) in the run folder where it is now, moved or not."""
    for key, state in (checkpoint.get("callbacks") or {}).items():
        folder = folders.get(key)
        if folder is not None and isinstance(state, dict) and "dirpath" not in state:
            state["dirpath"] = folder
            _change_paths(state, lambda path, folder=folder: _under(path, folder))


def _change_paths(state: dict[str, Any], change: Callable[[str], str]) -> None:
    for key in PATH_KEYS:
        if state.get(key):
            state[key] = change(state[key])
    if isinstance(state.get("best_k_models"), Mapping):  # a new dict: the callback's is live
        state["best_k_models"] = {change(p): score for p, score in state["best_k_models"].items()}


def _relative(path: str, folder: str | None) -> str:
    prefix = f"{str(folder).rstrip('/')}/" if folder else None
    return path[len(prefix) :] if prefix and str(path).startswith(prefix) else path


def _under(path: str, folder: str) -> str:
    """``path`` in ``folder`` unless absolute (a file outside the folder, or remote)."""
    return path if os.path.isabs(path) or "://" in path else os.path.join(folder, path)


def one_task(checkpoint: dict[str, Any]) -> None:
    """Format 2 -> 3: the label map, schemes and head become the one task ``tags``."""
    stored = checkpoint[CHECKPOINT_KEY]
    task = Task(
        DEFAULT_TASK,
        None,
        stored.pop("file_scheme"),
        stored.pop("train_scheme"),
        headline=True,
        # what format-2 training did with dev/test tags it never saw: refused them
        unknown_labels="error",
    )
    stored["tasks"] = [{**task.to_dict(), "labels": stored["vocabs"].pop("labels")}]
    _rename_head_weights(checkpoint)


def _rename_head_weights(state: Any) -> None:
    """``tagger.head.*`` -> ``tagger.heads.tags.*`` in the state dict and in every callback
    state holding one (weight averaging keeps the averaged model's)."""
    if isinstance(state, dict):
        old = "tagger.head."
        for key in [k for k in state if isinstance(k, str) and k.startswith(old)]:
            state[f"tagger.heads.{DEFAULT_TASK}." + key[len(old) :]] = state.pop(key)
        for value in state.values():
            _rename_head_weights(value)


def no_calibration(checkpoint: dict[str, Any]) -> None:
    """Format 3 -> 4: no temperature was fitted (every task's is 1)."""
    checkpoint[CHECKPOINT_KEY].setdefault("calibration", None)


# format N -> N + 1 (see the module docstring)
MIGRATIONS: dict[int, Callable[[dict[str, Any]], None]] = {
    1: paths_relative_to_folder,
    2: one_task,
    3: no_calibration,
}
