"""The whole tagger as one ONNX graph: featurized inputs -> decoded tag ids per task.

:class:`TaggerGraph` runs the tagger's parts (``embedder``, ``encoder``, ``memory``, the heads)
as ``Tagger.forward`` does, then each head's decoding and probabilities, from plain tensors named
by :data:`GRAPH_INPUTS`. :func:`export_graph` traces it with ``torch.onnx.export(...,
dynamo=True)`` with every module on its export-safe path (``export_safe``: no packing, no host
lengths, the CRF's scans; ``tests/test_export_paths.py``) and the stand-ins that compute the
same with less work in the graph (``export/lean.py``: the character CNN on real words only, the
BiLSTM by groups of similar length), batch and lengths dynamic. What stays
outside the graph: featurizing, padding, the CPU-only slicing by length, and the windows a
pretrained transformer cuts long sentences into (planned on the host, ``export/features.py``).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.export import Dim

from seqtagger.export.decoding import decode
from seqtagger.export.lean import leaner

__all__ = [
    "GRAPH_INPUTS",
    "GraphInfo",
    "TaggerGraph",
    "export_graph",
    "export_safe",
    "task_heads",
    "with_lengths",
]


GRAPH_INPUTS: dict[str, tuple[str, ...]] = {
    "token_ids": ("batch", "tokens"),
    "char_ids": ("batch", "tokens", "chars"),
    "vector_ids": ("batch", "tokens"),
    "subword_ids": ("batch", "subwords"),
    "word_starts": ("batch", "tokens"),
    "word_ends": ("batch", "tokens"),
    "window_rows": ("windows",),
    "window_starts": ("windows",),
    "window_sizes": ("windows",),
    "mask": ("batch", "length"),
    "window_mask": ("batch", "tokens"),
    "context_offset": ("batch",),
    "document_ids": ("batch",),
}
"""Every input a graph may read -> its axes: ``length`` the sentences' words, ``tokens`` the
words the embedder reads (the windows of a model with document context, else ``length``),
``chars`` fixed (``max_word_length``), the others dynamic. A graph reads those its featurizer
gives, then ``temperature`` (a float32 scalar for the probabilities)."""
OUTPUTS = ("tag_ids", "probabilities", "logits")
"""Per task: decoded ids ``(N, L)`` int64 (-100 at padding), each label's probability ``(N, L,
C)`` (the head's ``marginals``), the head's scores ``(N, L, C)``; named ``<task>.<output>``."""


def task_heads(tagger: nn.Module) -> dict[str, nn.Module]:
    """Task name -> head, in the tagger's order."""
    return dict(tagger.heads.items())


class TaggerGraph(nn.Module):
    """``forward(*inputs)`` in the order of ``input_names`` -> for each task its
    :data:`OUTPUTS`, task after task: the tagger's states (``Tagger.states``), then each
    head's scores, decoding and marginals."""

    def __init__(self, tagger: nn.Module, input_names: Sequence[str]) -> None:
        super().__init__()
        self.tagger = tagger
        self.heads = nn.ModuleDict(task_heads(tagger))
        self.input_names = list(input_names)

    def forward(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        batch = dict(zip(self.input_names, inputs, strict=True))
        temperature = batch.pop("temperature")
        batch = with_lengths(batch)
        mask = batch["mask"]
        states = self.tagger.states(batch)  # (N, L, H)
        outputs: list[Tensor] = []
        for head in self.heads.values():
            logits = head(states)  # (N, L, C)
            probabilities = head.marginals(logits, mask, temperature)
            outputs += [decode(head, logits, mask), probabilities.float(), logits.float()]
        return tuple(outputs)


def with_lengths(batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """``batch`` with the lengths its masks give (``lengths``, and ``window_lengths`` with
    context; their host copies too): the graph reads masks only."""
    batch["lengths"] = batch["lengths_cpu"] = batch["mask"].sum(dim=1)
    if "window_mask" in batch:
        batch["window_lengths"] = batch["window_lengths_cpu"] = batch["window_mask"].sum(dim=1)
    return batch


@contextmanager
def export_safe(module: nn.Module) -> Iterator[nn.Module]:
    """``module`` in eval mode, without gradients, every part that has an ``export_safe`` flag
    on its export-safe path; all restored afterwards."""
    flagged = [part for part in module.modules() if hasattr(part, "export_safe")]
    training = {part: part.training for part in module.modules()}
    grads = {name: p.requires_grad for name, p in module.named_parameters()}
    module.eval().requires_grad_(False)
    for part in flagged:
        part.export_safe = True
    try:
        with torch.no_grad():
            yield module
    finally:
        for part in flagged:
            del part.export_safe  # back to the class's False
        for name, parameter in module.named_parameters():
            parameter.requires_grad_(grads[name])
        for part, mode in training.items():
            part.training = mode


EXPORTER_LOGGERS = ("torch.onnx", "torch.export", "onnxscript", "onnx_ir")


@contextmanager
def quietly(*loggers: str) -> Iterator[None]:
    """The named loggers (``""``: the root) at errors only, and no warnings: the exporter's
    and the quantizer's notes on what they skip (torchvision's operators, constant folding of
    multi-output nodes, renamed axes, tensors of unknown type)."""
    found = [logging.getLogger(name or None) for name in loggers]
    levels = [logger.level for logger in found]
    for logger in found:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(found, levels, strict=True):
            logger.setLevel(level)


@dataclass(frozen=True)
class GraphInfo:
    """What :func:`export_graph` wrote: the inputs and outputs by name, the opset, the files."""

    inputs: list[str]
    outputs: dict[str, dict[str, str]]  # task -> output kind -> graph output name
    opset: int
    files: list[Path]


def dynamic_shapes(names: Sequence[str], static: Mapping[str, int]) -> tuple[Any, ...]:
    """The ``dynamic_shapes`` of :class:`TaggerGraph`'s varargs: one shared ``Dim`` per axis
    name (the axes in ``static`` keep their example size)."""
    dims = {axis: Dim(axis) for axes in GRAPH_INPUTS.values() for axis in axes}
    specs = []
    for name in names:
        axes = GRAPH_INPUTS.get(name, ())
        specs.append({i: dims[axis] for i, axis in enumerate(axes) if axis not in static} or None)
    return (tuple(specs),)


def export_graph(
    tagger: nn.Module,
    example: Mapping[str, Tensor],
    path: str | Path,
    *,
    static: Mapping[str, int],
    external_data: bool = False,
) -> GraphInfo:
    """Export ``tagger`` to ONNX at ``path`` from one ``example`` batch (tensors named as in
    :data:`GRAPH_INPUTS`, each axis of a size no other axis has, no axis of size 0 or 1, so
    that no size is taken for a constant). ``static``: axes kept fixed. ``external_data``: the
    weights in ``<path>.data`` beside the graph (a vector store's table)."""
    names = [name for name in GRAPH_INPUTS if name in example] + ["temperature"]
    inputs = {**example, "temperature": torch.tensor(1.0)}
    graph = TaggerGraph(tagger, names)
    outputs = {task: {kind: f"{task}.{kind}" for kind in OUTPUTS} for task in task_heads(tagger)}
    output_names = [name for kinds in outputs.values() for name in kinds.values()]
    with export_safe(graph), leaner(graph), quietly(*EXPORTER_LOGGERS):
        program = torch.onnx.export(
            graph,
            tuple(inputs[name] for name in names),
            dynamo=True,
            input_names=names,
            output_names=output_names,
            dynamic_shapes=dynamic_shapes(names, static),
            verbose=False,
        )
        path = Path(path)
        program.save(str(path), external_data=external_data)
    opset = next(o.version for o in program.model_proto.opset_import if o.domain in ("", "ai.onnx"))
    files = [path, *([path.with_name(path.name + ".data")] if external_data else [])]
    return GraphInfo(names, outputs, int(opset), [f for f in files if f.exists()])
