"""An exported graph cut down to some of its outputs: the nodes they need, nothing else.

onnxruntime runs every node of a graph whatever outputs a run asks for, so a run for the tags
alone would also run the probabilities (the CRF's forward-backward scans). The session
(``export/session.py``) therefore runs a copy of the graph that keeps only the nodes the asked
outputs depend on, built here from the ``.onnx`` file without loading its weights: a weight kept
apart (``<graph>.onnx.data``) stays a reference to that file. Reads no torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from seqtagger.errors import ConfigError

if TYPE_CHECKING:
    import onnx

__all__ = ["outputs_only", "read_graph"]


def read_graph(path: str | Path) -> onnx.ModelProto:
    """The graph at ``path``, its weights kept apart left as references to their file."""
    try:
        onnx = importlib.import_module("onnx")
    except ImportError:
        raise ConfigError(
            'running an exported model needs onnx (pip install "seqtagger[onnx]")'
        ) from None
    return onnx.load(str(path), load_external_data=False)


def outputs_only(model: onnx.ModelProto, outputs: Sequence[str]) -> onnx.ModelProto:
    """A copy of ``model`` whose graph computes ``outputs`` only: the nodes they depend on (a
    loop's body included), the initializers and inputs those nodes read."""
    unknown = set(outputs) - {output.name for output in model.graph.output}
    if unknown:
        raise ValueError(f"the graph has no output {sorted(unknown)}")
    pruned = type(model)()
    pruned.CopyFrom(model)
    graph = pruned.graph
    needed = set(outputs)
    kept = []
    for node in reversed(graph.node):
        if needed.intersection(node.output):
            kept.append(node)
            needed.update(_reads(node))
    _replace(graph.node, reversed(kept))
    _replace(graph.output, [o for o in graph.output if o.name in outputs])
    _replace(graph.initializer, [i for i in graph.initializer if i.name in needed])
    _replace(graph.input, [i for i in graph.input if i.name in needed])
    _replace(graph.value_info, [v for v in graph.value_info if v.name in needed])
    return pruned


def _reads(node: onnx.NodeProto) -> set[str]:
    """The names ``node`` reads: its inputs and what its subgraphs read from outside them."""
    names = set(node.input)
    for attribute in node.attribute:
        for body in [attribute.g] if attribute.HasField("g") else list(attribute.graphs):
            inside = {i.name for i in body.input} | {i.name for i in body.initializer}
            inside |= {name for inner in body.node for name in inner.output}
            for inner in body.node:
                names |= _reads(inner) - inside
    names.discard("")  # an optional input left out
    return names


def _replace(field: object, items: Iterable[object]) -> None:
    """Set a repeated protobuf ``field`` to ``items``."""
    items = list(items)
    del field[:]  # type: ignore[attr-defined]
    field.extend(items)  # type: ignore[attr-defined]
