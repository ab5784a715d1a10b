"""Build objects from ``_target_`` mappings without importing Hydra.

A checkpoint stores its model parts as plain ``_target_`` dicts (``configs/model``); rebuilding
them is all that prediction needs of Hydra, and importing ``hydra`` (with OmegaConf and ANTLR)
is a large share of a prediction command's start-up. So the model's builders use these two
functions, which follow ``hydra.utils.get_object`` and ``hydra.utils.instantiate`` for the keys
a model config uses: ``_target_``, ``_partial_``, ``_args_`` and ``_recursive_`` (nested
``_target_`` mappings are built first unless ``_recursive_`` is false). Nested mappings and
lists reach the target as plain ``dict`` and ``list`` (Hydra would pass OmegaConf nodes). A
config that is an OmegaConf node is turned into plain values first.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from typing import Any

__all__ = ["get_object", "instantiate", "to_plain"]

SPECIAL_KEYS = frozenset({"_target_", "_partial_", "_args_", "_recursive_", "_convert_"})
SCALARS = frozenset({str, int, float, bool, type(None)})


def get_object(path: str) -> Any:
    """The object a dotted path names (``seqtagger.models.heads.CRFHead``): the longest prefix
    that imports as a module, then attributes. ``ImportError`` names the path otherwise."""
    parts = path.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError as error:
            if error.name is None or not ".".join(parts[:split]).startswith(error.name):
                raise  # the module exists but one of its own imports is missing
            continue
        try:
            for name in parts[split:]:
                found = getattr(found, name)
        except AttributeError:
            break
        return found
    raise ImportError(f"cannot find {path!r}: no module or attribute of that name")


def instantiate(config: Any, *, _partial_: bool | None = None, **kwargs: Any) -> Any:
    """``config``'s ``_target_`` called with its other keys (and ``kwargs``), or a
    ``functools.partial`` of it when ``_partial_`` (the argument, else the config's key)."""
    config = _plain(config)
    if not isinstance(config, Mapping) or "_target_" not in config:
        raise ValueError(f"instantiate needs a mapping with a `_target_`, got {config!r}")
    recursive = bool(config.get("_recursive_", True))
    partial = bool(config.get("_partial_", False) if _partial_ is None else _partial_)
    target = get_object(str(config["_target_"]))
    args = [_built(value, recursive) for value in config.get("_args_", ())]
    options = {key: value for key, value in config.items() if key not in SPECIAL_KEYS}
    options = {key: _built(value, recursive) for key, value in {**options, **kwargs}.items()}
    if partial:
        return functools.partial(target, *args, **options)
    return target(*args, **options)


def _built(value: Any, recursive: bool) -> Any:
    """A nested value: an object for a ``_target_`` mapping (when ``recursive``), else plain."""
    if not recursive:
        return value
    if isinstance(value, Mapping):
        if "_target_" in value:
            return instantiate(value)
        return {key: _built(item, recursive) for key, item in value.items()}
    if isinstance(value, list):
        return [_built(item, recursive) for item in value]
    return value


def to_plain(value: Any) -> Any:
    """``value`` with every OmegaConf container turned into plain, resolved Python data (what a
    checkpoint may hold: it loads with ``torch.load(weights_only=True)``)."""
    value = _plain(value)
    if isinstance(value, Mapping):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        if all(type(item) in SCALARS for item in value):  # a vocabulary: no call per word
            return list(value)
        return [to_plain(item) for item in value]
    return value


def _plain(config: Any) -> Any:
    """Plain dicts and lists for an OmegaConf node (OmegaConf is only imported for one)."""
    if type(config).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(config, resolve=True)
    return config
