"""A checkpoint's model keeps the settings it was trained with (``model_settings`` in
``seqtagger.checkpoint``: its parts' classes and options, the data's context, word length, train
scheme and word normalisation). A resume refuses a changed one at start-up, naming the key and
both values; ``train=false`` takes the checkpoint's values for the keys the command line does not
give, and refuses one it gives another value (``seqtagger-eval`` does the same with its
command line)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from lightning import LightningDataModule
from omegaconf import DictConfig, OmegaConf, open_dict

from seqtagger.checkpoint import (
    CHECKPOINT_KEY,
    MODEL_PARTS,
    NOT_SETTINGS,
    checkpoint_settings,
    load_checkpoint,
    model_settings,
    refuse_changed_settings,
)
from seqtagger.utils.targets import to_plain

# what train=false takes from the checkpoint besides the model's parts
MODEL_OPTIONS = (*MODEL_PARTS, "label_smoothing")


def trained_with(ckpt_path: str) -> dict[str, Any]:
    """The checkpoint's record of what its model was trained with (its hyperparameters and
    seqtagger data, without weights or states)."""
    checkpoint = load_checkpoint(ckpt_path)
    return {key: checkpoint[key] for key in ("hyper_parameters", CHECKPOINT_KEY)}


def command_line_keys() -> set[str]:
    """The config keys this Hydra run's command line sets to a value (``data.context=0``,
    ``model.head={...}``); group choices (``model/head=crf``, ``data=files``) set none."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return set()
    keys = (str(item).partition("=")[0].lstrip("~+") for item in HydraConfig.get().overrides.task)
    return {key.partition("@")[0] for key in keys if "." in key and "/" not in key}


def is_given(key: str, given: Collection[str]) -> bool:
    """Whether the command line sets ``key`` (itself, or a mapping holding it)."""
    return any(key == name or key.startswith(f"{name}.") for name in given)


def _holds_given(key: str, given: Collection[str]) -> bool:
    return any(name.startswith(f"{key}.") for name in given)


def use_checkpoint_settings(
    cfg: DictConfig, record: Mapping[str, Any], given: Collection[str]
) -> None:
    """``train=false``: the model's parts and settings in ``cfg`` become the checkpoint's
    (``record``: :func:`trained_with`), except the keys in ``given`` and the parts' files
    (``pretrained``, ``vectors``), so the test scores the model as it was trained; a given
    key with another value is refused afterwards (:func:`check_trained_with`)."""
    hparams = record["hyper_parameters"]
    settings = checkpoint_settings(record)
    with open_dict(cfg):
        for name in MODEL_OPTIONS:
            if name in hparams:
                ours = to_plain(cfg.model.get(name))
                cfg.model[name] = _merged(f"model.{name}", ours, hparams[name], given)
        for key, value in settings.items():
            if key.startswith("data.") and not is_given(key, given):
                OmegaConf.update(cfg, key, value, merge=False, force_add=True)


def _merged(key: str, ours: Any, theirs: Any, given: Collection[str]) -> Any:
    """The checkpoint's value at ``key`` (``theirs``), with the command line's where it gives
    one and this config's files; an option only this config has is dropped, unless given."""
    if is_given(key, given):
        return ours
    if not isinstance(theirs, Mapping):
        return theirs
    ours = ours if isinstance(ours, Mapping) else {}
    merged = {}
    for name in [*theirs, *(name for name in ours if name not in theirs)]:
        if name in NOT_SETTINGS and name in ours:
            merged[name] = ours[name]
        elif name in theirs:
            merged[name] = _merged(f"{key}.{name}", ours.get(name), theirs[name], given)
        elif is_given(f"{key}.{name}", given) or _holds_given(f"{key}.{name}", given):
            merged[name] = ours[name]
    return merged


def settings_given(cfg: DictConfig, keys: Collection[str]) -> dict[str, Any]:
    """The values ``cfg`` holds for these setting keys (``+data.context=0`` on the command line
    of ``seqtagger-eval``); a part's class is its ``_target_``."""
    given: dict[str, Any] = {}
    for key in keys:
        value = OmegaConf.select(cfg, key, default=None)
        if isinstance(value, DictConfig):
            value = value.get("_target_")
        if value is not None:
            given[key] = to_plain(value)
    return given


def check_trained_with(
    cfg: DictConfig, datamodule: LightningDataModule, record: Mapping[str, Any], ckpt_path: str
) -> None:
    """Refuse, before anything is written, a run on a checkpoint whose model was trained with
    other settings than this config's. Runs once the data is read (``prepare_data``); a
    process that has not read it (a DDP rank > 0) leaves it to the one that has, and to
    ``TaggerModule.on_load_checkpoint``."""
    if getattr(datamodule, "vocabs", None) is None:
        return
    current = model_settings(to_plain(cfg.model), datamodule.data_info())
    refuse_changed_settings(checkpoint_settings(record), current, f"ckpt_path={ckpt_path}: ")
