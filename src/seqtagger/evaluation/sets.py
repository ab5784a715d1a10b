"""Held-out sets for ``seqtagger-eval``: what the ``sets`` config names, resolved to readable sets.

A set is a file in any reader format (``+sets.gum=gum-test.conllu``), ``{file, scheme, reader}``
or a named corpus split (``{corpus: ud_ewt, split: validation}``); with no sets, the training
run's own test split, read as training read it (from the run's ``config.yaml``). Gold tags are
read in the set's own scheme and checked against it. For a model of several tasks, ``scheme`` is
the primary task's and ``schemes: {task: scheme}`` gives the others' (default: the scheme of
their training files); see ``seqtagger.evaluation.layers``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from seqtagger.data.corpora import CORPORA
from seqtagger.data.download import ensure_corpus
from seqtagger.data.readers import Reader, reader_for_path
from seqtagger.data.schemes import check_scheme, convertible_schemes
from seqtagger.errors import ConfigError, CorpusNotFoundError, SchemeError


@dataclass
class HeldOutSet:
    """A named held-out set: where it is, how to read it, its tag scheme; ``schemes``: the
    scheme of some tasks' gold, by task, for a model of several (the set's ``schemes``)."""

    name: str
    source: Path | str
    reader: Reader
    scheme: str
    schemes: dict[str, str] = field(default_factory=dict)


def check_scorable(held_out: HeldOutSet, model_scheme: str) -> None:
    """Refuse, before any tagging, a set in a scheme the model's tags cannot be converted to:
    plain labels (POS) and chunk tags (NER) are different tasks."""
    key = f"sets.{held_out.name}.scheme"
    check_fits(held_out.name, key, held_out.scheme, model_scheme, "the model")


def check_fits(name: str, key: str, scheme: str, model_scheme: str, predictor: str) -> None:
    """Refuse gold tags in ``scheme`` (set by ``key``) for tags learnt in ``model_scheme``;
    ``predictor``: who predicts them in the message (``the model``, ``task ner``)."""
    fitting = convertible_schemes(model_scheme)
    if scheme in fitting:
        return
    predicts = "plain labels (POS)" if model_scheme == "plain" else "chunk tags (NER)"
    choices = " or ".join(filter(None, (", ".join(fitting[:-1]), fitting[-1])))
    raise SchemeError(
        f"{key}={scheme}: {predictor} predicts {predicts}, which cannot be scored against "
        f"{scheme} tags; give sets.{name} a file tagged for this model, with scheme {choices}"
    )


def held_out_from_file(
    name: str,
    path: str | Path,
    scheme: str,
    reader: Reader | None = None,
    schemes: Mapping[str, str] | None = None,
) -> HeldOutSet:
    """A set read from ``path`` with ``reader`` (default: chosen by file suffix)."""
    path = Path(path)
    if not path.exists():
        raise CorpusNotFoundError(f"sets.{name}: {path} does not exist")
    scheme = _scheme(f"sets.{name}.scheme", scheme)
    if schemes is not None and not isinstance(schemes, Mapping):
        raise ConfigError(f"sets.{name}.schemes={schemes!r}: expected a mapping task -> scheme")
    by_task = {
        str(task): _scheme(f"sets.{name}.schemes.{task}", value)
        for task, value in (schemes or {}).items()
    }
    return HeldOutSet(name, path, reader or reader_for_path(path), scheme, by_task)


def _scheme(key: str, scheme: str) -> str:
    try:
        return check_scheme(scheme)
    except SchemeError as err:
        raise SchemeError(f"{key}: {err}") from None


def run_config(ckpt_path: Path) -> DictConfig | None:
    """The training run's resolved config: ``<run>/config.yaml`` beside ``<run>/checkpoints/``."""
    path = ckpt_path.resolve().parent.parent / "config.yaml"
    return OmegaConf.load(path) if path.is_file() else None


def default_sets(ckpt_path: Path, file_scheme: str | None = None) -> dict[str, HeldOutSet]:
    """The training run's test split, read as training read it, in ``file_scheme`` (default: the
    run's file scheme)."""
    cfg = run_config(ckpt_path)
    if cfg is None or "data" not in cfg:
        raise ConfigError(
            f"sets is empty and no training config.yaml was found beside {ckpt_path.parent}: "
            "name the held-out sets, e.g. +sets.test=path/to/test.conll"
        )
    datamodule = hydra.utils.instantiate(cfg.data)
    files = datamodule.resolve_files()
    if "test" not in files:
        raise ConfigError("sets is empty and the training data has no test split: name the sets")
    source = files["test"]
    scheme = file_scheme or datamodule.file_scheme
    return {"test": HeldOutSet("test", source, datamodule.reader_for(source), scheme)}


def held_out_set(
    name: str, spec: Any, cfg: DictConfig, file_scheme: str, several: bool = False
) -> HeldOutSet:
    """One ``sets`` entry: a file path, ``{file, scheme, reader}`` or ``{corpus, split}``; its
    scheme defaults to ``file_scheme`` (a named corpus: the corpus' own, unless ``several``)."""
    if isinstance(spec, str):
        return held_out_from_file(name, _find(name, spec, cfg), file_scheme)
    if not isinstance(spec, Mapping):
        raise ConfigError(f"sets.{name}: expected a file path or a mapping, got {spec!r}")
    if "corpus" in spec:
        return _corpus_set(name, spec, cfg, file_scheme if several else None)
    if "file" not in spec:
        raise ConfigError(f"sets.{name}: give `file` (or `corpus` and `split`)")
    reader = hydra.utils.instantiate(spec["reader"]) if spec.get("reader") else None
    scheme = spec.get("scheme") or file_scheme
    path = _find(name, spec["file"], cfg)
    return held_out_from_file(name, path, scheme, reader, spec.get("schemes"))


def _corpus_set(name: str, spec: Mapping, cfg: DictConfig, file_scheme: str | None) -> HeldOutSet:
    corpus = spec["corpus"]
    if corpus not in CORPORA:
        raise ConfigError(
            f"sets.{name}.corpus={corpus!r} is not known; choose from {sorted(CORPORA)}"
        )
    files = ensure_corpus(corpus, cfg.paths.data_dir)
    split = spec.get("split", "test")
    if split not in files:
        raise ConfigError(f"sets.{name}.split={split!r}: {corpus} has {sorted(files)}")
    scheme = spec.get("scheme") or file_scheme or CORPORA[corpus].scheme
    reader = CORPORA[corpus].make_reader()
    return held_out_from_file(name, files[split], scheme, reader, spec.get("schemes"))


def _find(name: str, path: str, cfg: DictConfig) -> Path:
    """Set ``name``'s file: as given (absolute, or relative to the working directory), else
    relative to ``paths.data_dir``; the error names every place it looked."""
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return candidate
    in_data = Path(cfg.paths.data_dir) / candidate
    for place in (candidate, in_data):
        if place.exists():
            return place
    raise CorpusNotFoundError(
        f"sets.{name}: {path} does not exist: looked in the working directory "
        f"({candidate.absolute()}) and in paths.data_dir ({in_data.absolute()}); a relative "
        "path is tried in that order"
    )


def resolve_sets(cfg: DictConfig, file_scheme: str, several: bool = False) -> dict[str, HeldOutSet]:
    """Every set of ``cfg.sets`` (default: the training run's test split), by name; each one
    checked to be scorable by a model trained on ``file_scheme`` tags before any is tagged.
    ``several``: the model has several tasks; ``file_scheme`` is the primary task's, the
    scheme of every set that names none."""
    sets_cfg = cfg.get("sets") or {}
    if not sets_cfg:
        return default_sets(Path(cfg.ckpt_path), file_scheme if several else None)
    sets = {
        name: held_out_set(name, spec, cfg, file_scheme, several) for name, spec in sets_cfg.items()
    }
    for held_out in sets.values():
        check_scorable(held_out, file_scheme)
    return sets
