"""Export a trained tagger: the ONNX graph, its sidecar, optionally its int8 twin.

    export_checkpoint("best.ckpt", "model.onnx")                  # model.onnx + model.onnx.json
    export_checkpoint("best.ckpt", "model.onnx", quantize="int8")  # the graph quantized

Files are written in a temporary folder beside the target and moved into place once complete,
so a failed export leaves what was there before. The example the graph is traced from is a
batch of the model's own vocabulary words whose axes all differ in size (no size is taken for
another's); every axis but the characters' stays dynamic.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import seqtagger
from seqtagger.errors import ConfigError
from seqtagger.export.features import GraphFeaturizer
from seqtagger.export.graph import GRAPH_INPUTS, export_graph, task_heads
from seqtagger.export.sidecar import (
    FORMAT,
    OPTIMIZATION_LEVEL,
    VERSION,
    sidecar_path,
    write_json,
)

__all__ = ["ExportResult", "export_checkpoint", "export_module"]

EXAMPLE_LENGTHS = (6, 4, 2)  # batch 3, length 6: sizes no other axis of the example has
EXAMPLE_CONTEXT = (2, 1)  # words of context left and right: windows of 9
QUANTIZATIONS = ("int8",)


@dataclass(frozen=True)
class ExportResult:
    """The files written (graph, its weights when apart, sidecar) and the sidecar's data."""

    files: list[Path]
    sidecar: dict[str, Any]


def export_checkpoint(
    checkpoint: str | Path,
    path: str | Path,
    *,
    vectors: str | None = None,
    quantize: str | None = None,
    named_by: str = "CKPT",
) -> ExportResult:
    """Load a checkpoint (``weights_only``) and :func:`export_module` it to ``path``."""
    from seqtagger.lightning_module import TaggerModule

    module = TaggerModule.from_checkpoint(checkpoint, vectors=vectors, named_by=named_by)
    return export_module(module, path, quantize=quantize, source=str(checkpoint))


def export_module(
    module: Any, path: str | Path, *, quantize: str | None = None, source: str | None = None
) -> ExportResult:
    """Export a trained ``TaggerModule`` to the ONNX graph ``path`` and its sidecar;
    ``quantize="int8"``: the graph's weights dynamically quantized (``export/quantize.py``)."""
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ConfigError(f"--quantize {quantize}: expected one of {', '.join(QUANTIZATIONS)}")
    path = Path(path)
    if path.is_dir() or not path.parent.is_dir():
        raise ConfigError(f"-o {path}: expected a file name in an existing folder")
    tagger, data_info = module.tagger, module.data_info
    char_width = int(data_info.get("max_word_length", 20))
    featurizer = module.featurizer
    store_words = _store_words(featurizer)
    windows = _windows(tagger.embedder)
    example = example_batch(module, char_width, windows)
    with tempfile.TemporaryDirectory(prefix=f".{path.name}.", dir=path.parent) as folder:
        staged = Path(folder) / path.name
        info = export_graph(
            tagger,
            {name: torch.from_numpy(value) for name, value in example.items()},
            staged,
            static={"chars": char_width},
            external_data=store_words is not None,
        )
        files = info.files
        if quantize is not None:
            from seqtagger.export.quantize import quantize_graph

            files = quantize_graph(staged)
        sidecar = {
            "format": FORMAT,
            "version": VERSION,
            "graph": path.name,
            "weights": [file.name for file in files[1:]],
            "opset": info.opset,
            "onnxruntime": {"graph_optimization_level": OPTIMIZATION_LEVEL},
            "quantized": quantize,
            "inputs": info.inputs,
            "outputs": info.outputs,
            "tasks": data_info["tasks"],
            "char_width": char_width,
            "windows": list(windows) if windows else None,
            "context": int(data_info.get("context", 0) or 0),
            "reads_documents": tagger.memory is not None,
            "featurizer": data_info.get("featurizer") or {"max_word_length": char_width},
            "vocabs": data_info["vocabs"],
            "calibration": data_info.get("calibration"),
            "vector_words": store_words,
            "model": model_summary(module, source),
        }
        write_json(sidecar_path(staged), sidecar)
        written = []
        for file in [*files, sidecar_path(staged)]:
            target = path.with_name(file.name)
            os.replace(file, target)
            written.append(target)
    return ExportResult(written, sidecar)


def example_batch(module: Any, char_width: int, windows: tuple[int, int] | None) -> dict[str, Any]:
    """The numpy inputs the graph is traced from: sentences of the model's own words, with
    context and documents when the model reads them."""
    words = [w for w in module.vocabs["words"].itos[2:] if w.isalpha()] or ["a"]
    cycle = (words * (sum(EXAMPLE_LENGTHS) * 4 // len(words) + 1))[: sum(EXAMPLE_LENGTHS) * 4]
    sentences = [cycle[i * 8 : i * 8 + n] for i, n in enumerate(EXAMPLE_LENGTHS)]
    context = int(module.data_info.get("context", 0) or 0)
    contexts = None
    if context:
        left, right = EXAMPLE_CONTEXT
        contexts = [(cycle[-left:], cycle[:right]) for _ in sentences]
    documents = [1, 1, 2] if module.tagger.memory is not None else None
    featurizer = module.featurizer
    names = [name for name in GRAPH_INPUTS if name in _input_names(module, featurizer, contexts)]
    features = GraphFeaturizer(featurizer, names, char_width, windows)
    return features(sentences, contexts, documents)


def _input_names(module: Any, featurizer: Any, contexts: Any) -> set[str]:
    """The graph inputs a model reads: its featurizer's columns (one sentence's worth tells)."""
    columns = set(GraphFeaturizer(featurizer, [], 1).columns([["a"]], contexts and [([], [])]))
    names = {"mask", *columns}
    if contexts is not None:
        names |= {"window_mask", "context_offset"}
    if module.tagger.memory is not None:
        names.add("document_ids")
    if "subword_ids" in columns:
        names |= {"window_rows", "window_starts", "window_sizes"}
    return names


def _store_words(featurizer: Any) -> list[str] | None:
    """The word list of the vector store the featurizer (or its inner one) reads, if any."""
    while featurizer is not None and getattr(featurizer, "kind", "") != "word_char_vectors":
        featurizer = getattr(featurizer, "inner", None)
    if featurizer is None:
        return None
    from seqtagger.models.vectors import load_store

    return list(load_store(featurizer.vectors).words)


def _windows(embedder: Any) -> tuple[int, int] | None:
    """``(subwords per window, stride)`` of a pretrained transformer embedder, else None."""
    window = getattr(embedder, "window", None)
    return (int(window), int(embedder.stride)) if window is not None else None


def model_summary(module: Any, source: str | None) -> dict[str, Any]:
    """The parts' configs, the parameter count, the checkpoint and the versions it came from."""
    hparams: Mapping[str, Any] = module.hparams
    return {
        "checkpoint": source,
        "parts": {key: hparams.get(key) for key in ("embedding", "encoder", "memory", "head")},
        "tasks": list(task_heads(module.tagger)),
        "parameters": sum(p.numel() for p in module.tagger.parameters()),
        "seqtagger": seqtagger.__version__,
        "torch": torch.__version__,
    }
