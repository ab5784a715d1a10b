"""Config plumbing for the entry points: plain values, extras, instantiation of lists of objects.

Checkpoints must load with ``torch.load(weights_only=True)``, so everything the model keeps
from its config is converted to plain ``dict``/``list``/scalars first (``to_plain``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hydra
from lightning import Callback
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf

from seqtagger.errors import ConfigError
from seqtagger.utils.pylogger import RankedLogger

log = RankedLogger(__name__, rank_zero_only=True)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings to ``{"a/b": value}`` (TensorBoard hparams take flat scalars)."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, prefix=f"{name}/"))
        elif isinstance(value, bool | int | float | str) or value is None:
            flat[name] = "null" if value is None else value
        else:
            flat[name] = str(value)
    return flat


def instantiate_group(group_cfg: DictConfig | None, group: str) -> list[Any]:
    """Instantiate every entry of a config group mapping name -> ``_target_`` config
    (``callbacks``, ``logger``); ``null`` entries are switched off."""
    objects: list[Any] = []
    for name, conf in (group_cfg or {}).items():
        if isinstance(conf, DictConfig) and "_target_" in conf:
            log.debug(f"Instantiating {group} <{conf._target_}>")
            objects.append(hydra.utils.instantiate(conf))
        elif conf is not None:
            raise ConfigError(f"{group}.{name}: expected a config with _target_, got {conf!r}")
    return objects


def instantiate_callbacks(callbacks_cfg: DictConfig | None) -> list[Callback]:
    """Instantiate every callback config."""
    return instantiate_group(callbacks_cfg, "callbacks")


def instantiate_loggers(logger_cfg: DictConfig | None) -> list[Logger]:
    """Instantiate every logger config."""
    return instantiate_group(logger_cfg, "logger")


def apply_extras(cfg: DictConfig) -> None:
    """Optional niceties before a run: silence Python warnings, print the config tree."""
    extras = cfg.get("extras")
    if not extras:
        return
    if extras.get("ignore_warnings"):
        log.info("Disabling python warnings <cfg.extras.ignore_warnings=True>")
        warnings.filterwarnings("ignore")
    if extras.get("print_config"):
        print_config_tree(cfg)


def print_config_tree(cfg: DictConfig) -> None:
    """Print the composed config as a rich tree (rank zero only)."""
    import rich.syntax
    import rich.tree
    from lightning.pytorch.utilities import rank_zero_only

    if getattr(rank_zero_only, "rank", 0):
        return
    tree = rich.tree.Tree("CONFIG", style="dim", guide_style="dim")
    for field in cfg:
        branch = tree.add(str(field), style="bold", guide_style="dim")
        value = cfg[field]
        text = (
            OmegaConf.to_yaml(value, resolve=False) if isinstance(value, DictConfig) else str(value)
        )
        branch.add(rich.syntax.Syntax(text, "yaml"))
    rich.print(tree)


def save_resolved_config(cfg: DictConfig, output_dir: str | Path) -> Path:
    """Write the fully resolved config next to the run's other artifacts."""
    path = Path(output_dir) / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    # the `hydra` node (present when composed in tests) describes the launcher, not the run
    run_cfg = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    path.write_text(OmegaConf.to_yaml(run_cfg, resolve=True), encoding="utf-8")
    return path


def write_json(data: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``data`` as pretty JSON (used for ``metrics.json``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
