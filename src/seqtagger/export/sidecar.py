"""The JSON sidecar beside an exported graph (``model.onnx.json`` beside ``model.onnx``).

It holds what the graph does not: the vocabularies and the featurizer's settings (to featurize
new text as training did), the tasks with their labels and schemes (the checkpoint's task
records, ``data/info.py``: to read the tag ids), the graph's inputs and outputs, the fixed
character width, a vector store's word list (its matrix is in the graph), a pretrained
transformer's windows, the opset, the onnxruntime optimization level the parity tests prove
correct, and a summary of the model. Plain JSON, read without torch.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from seqtagger.errors import CheckpointError
from seqtagger.utils.files import file_mode

__all__ = [
    "FORMAT",
    "OPTIMIZATION_LEVEL",
    "read_sidecar",
    "sidecar_path",
    "write_json",
]

FORMAT = "seqtagger-onnx"
VERSION = 1
OPTIMIZATION_LEVEL = "ORT_ENABLE_BASIC"
"""The onnxruntime graph optimization level every parity test runs the graphs at
(``tests/test_export*.py``): constant folding and the removal of redundant nodes, the graph
otherwise as exported. ``ORT_ENABLE_ALL`` adds fusions; on an earlier form of the graph (the
BiLSTM exported as a plain ``nn.LSTM``, whose declared output shapes kept the example's length)
it gave wrong outputs at other lengths, so it is not the recorded level."""


def sidecar_path(graph: str | Path) -> Path:
    """``model.onnx`` -> ``model.onnx.json``."""
    graph = Path(graph)
    return graph.with_name(graph.name + ".json")


def read_sidecar(graph: str | Path) -> dict[str, Any]:
    """The sidecar of ``graph``, checked to be one this seqtagger reads."""
    path = sidecar_path(graph)
    if not Path(graph).is_file():
        raise CheckpointError(f"{graph}: no such ONNX model file")
    if not path.is_file():
        raise CheckpointError(
            f"{graph}: its sidecar {path.name} is missing (seqtagger-export writes both; keep "
            "them side by side)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path}: not a readable JSON sidecar ({error})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a seqtagger-export sidecar (no format {FORMAT!r})")
    if int(data.get("version", 0)) > VERSION:
        raise CheckpointError(
            f"{path}: sidecar version {data['version']}, newer than this seqtagger reads "
            f"({VERSION}); update seqtagger"
        )
    return data


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` to ``path`` through a temporary file beside it, renamed when complete."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(fd, file_mode(path))
        with open(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, ensure_ascii=False, indent=1)
            out.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
