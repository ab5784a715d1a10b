"""Model options checked when the model is configured, before any data is read.

torch refuses a dropout of 1.5, an LSTM of 0 layers or a negative learning rate with a bare
``ValueError`` (a traceback, exit code 1), some only at the first step; a misspelt key that
``+model.encoder.hiden_size=256`` adds fails as a ``TypeError`` deep inside the model's
assembly. Here each becomes a :class:`~seqtagger.errors.ConfigError` that names the key
(``model.head.dropout=1.5: ...``), as ``TaggingDataModule`` does for ``data.*``.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterator, Mapping
from typing import Any

import hydra

from seqtagger.errors import ConfigError

__all__ = ["check_model_options", "unknown_keys"]

# sizes and counts of the encoders and embedders that must be whole numbers >= 1
POSITIVE_INTEGERS = frozenset(
    {
        "num_layers",
        "hidden_size",
        "d_model",
        "num_heads",
        "dim_feedforward",
        "max_positions",
        "layers",
        "length_groups",
    }
)
# optimizer options that must be > 0 (lr) or >= 0, as torch's optimizers require
POSITIVE_NUMBERS = frozenset({"lr"})
NON_NEGATIVE_NUMBERS = frozenset({"weight_decay", "eps", "momentum"})
# arguments the model's builder gives each part (sizes, labels, parameters): not options
SUPPLIED = frozenset(
    {
        "input_size",
        "num_labels",
        "num_words",
        "num_chars",
        "words",
        "pad_index",
        "unk_index",
        "labels",
        "scheme",
        "label_smoothing",
        "probability_check",
        "params",
        "optimizer",
        "stored",
        "read_weights",
        "self",
    }
)


def check_model_options(parts: Mapping[str, Mapping[str, Any] | None]) -> None:
    """Refuse a bad value or a key that the ``_target_`` does not take, in every part config
    (``{"embedding": {...}, "encoder": ..., "optimizer": ...}``, each under ``model.``)."""
    for part, config in parts.items():
        if config:
            _check_config(f"model.{part}", config)


def _check_config(prefix: str, config: Mapping[str, Any]) -> None:
    for name in unknown_keys(config):
        options = sorted(set(_accepted(config) or ()) - SUPPLIED)
        close = difflib.get_close_matches(name, options, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ConfigError(
            f"{prefix}.{name}={config[name]}: {config['_target_']} has no option {name!r} "
            f"({hint}its options: {', '.join(options) or 'none'})"
        )
    for key, value in _leaves(prefix, config):
        _check_value(key, value)


def _leaves(prefix: str, config: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """``(model.part.key, value)`` of every option, nested configs and lists included (an
    ``extra`` embedder, the optimizer's ``groups``); a nested ``_target_`` config is checked as
    a config of its own."""
    for name, value in config.items():
        key = f"{prefix}.{name}"
        if isinstance(value, Mapping) and "_target_" in value:
            _check_config(key, value)
        elif isinstance(value, Mapping):
            yield from _leaves(key, value)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                if isinstance(item, Mapping):
                    yield from _leaves(f"{key}.{index}", item)
        else:
            yield key, value


def _check_value(key: str, value: Any) -> None:
    name = key.rsplit(".", 1)[-1]
    probability = name.endswith("dropout") and not isinstance(value, bool)  # not locked_dropout
    if probability and not _number_in(value, 0.0, 1.0, high_open=True):
        raise ConfigError(f"{key}={value}: expected a probability in [0, 1) (0: no dropout)")
    if name in POSITIVE_INTEGERS and not _whole_at_least_one(value):
        raise ConfigError(f"{key}={value}: expected an integer >= 1")
    if name in POSITIVE_NUMBERS and not (_number_in(value, 0.0, None) and value > 0):
        raise ConfigError(f"{key}={value}: expected a number > 0")
    if name in NON_NEGATIVE_NUMBERS and not _number_in(value, 0.0, None):
        raise ConfigError(f"{key}={value}: expected a number >= 0")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number_in(value: Any, low: float, high: float | None, high_open: bool = False) -> bool:
    """``low <= value`` and (``value < high`` or ``<=``), for a real number."""
    if not _is_number(value) or value < low:
        return False
    return high is None or (value < high if high_open else value <= high)


def _whole_at_least_one(value: Any) -> bool:
    return _is_number(value) and float(value).is_integer() and value >= 1


def unknown_keys(config: Mapping[str, Any]) -> list[str]:
    """The keys of a ``_target_`` config that its target does not take (``[]`` when its
    signature cannot tell: a target that does not import, or ends in ``**kwargs``)."""
    accepted = _accepted(config)
    if accepted is None:
        return []
    return [str(name) for name in config if not str(name).startswith("_") and name not in accepted]


def _accepted(config: Mapping[str, Any]) -> set[str] | None:
    """The keyword arguments ``config["_target_"]`` takes; a class's ``**options`` handed to
    its base class (``CRFHead`` -> ``LinearHead`` -> ``Head``) are followed up its MRO."""
    try:
        target = hydra.utils.get_object(str(config["_target_"]))
    except Exception:  # a missing or wrong _target_: the model's builder names the key
        return None
    functions = [cls.__init__ for cls in target.__mro__] if inspect.isclass(target) else [target]
    accepted: set[str] = set()
    for function in functions:
        try:
            parameters = inspect.signature(function).parameters.values()
        except (TypeError, ValueError):
            return None
        accepted |= {p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            return accepted - {"self"}
    return None
