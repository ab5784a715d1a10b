"""An exported graph ready to run: its sidecar, its featurizer and an onnxruntime session.

    tagger = OnnxTagger("model.onnx")
    tagger.tag_ids([["EU", "rejects", "German", "call"]])  # -> {"tags": [[3, 0, 7, 0]]}

Imports neither torch nor Lightning for a model of words, characters or vectors (a pretrained
transformer's featurizer imports torch). The session runs at the sidecar's optimization level,
the one the parity tests prove correct, on the CPU.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqtagger.data.vocab import Vocab
from seqtagger.errors import ConfigError
from seqtagger.export.features import GraphFeaturizer, rebuild_featurizer
from seqtagger.export.pruning import outputs_only, read_graph
from seqtagger.export.sidecar import read_sidecar

__all__ = ["OnnxTagger", "onnxruntime"]

INSTALL = 'pip install "seqtagger[onnx]"'
WEIGHTS_FOLDER = "session.model_external_initializers_file_folder_path"
"""The session option that finds the weights file of a graph given as bytes (a pruned one)."""


def onnxruntime() -> Any:
    """The ``onnxruntime`` module, or a ``ConfigError`` saying how to install it."""
    try:
        return importlib.import_module("onnxruntime")
    except ImportError:
        raise ConfigError(f"running an exported model needs onnxruntime ({INSTALL})") from None


class OnnxTagger:
    """``run(sentences, contexts, documents)`` -> the graph's outputs by name, for one batch.

    Args:
        path: the ``.onnx`` file; its sidecar ``<path>.json`` lies beside it.
        threads: onnxruntime's intra-op threads (None: its default, one per core).
    """

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        self.path = Path(path)
        self.sidecar = sidecar = read_sidecar(self.path)
        vocabs = {name: Vocab.from_dict(data) for name, data in sidecar["vocabs"].items()}
        featurizer = rebuild_featurizer(sidecar["featurizer"], vocabs, sidecar.get("vector_words"))
        windows = tuple(sidecar["windows"]) if sidecar.get("windows") else None
        self.features = GraphFeaturizer(
            featurizer, sidecar["inputs"], int(sidecar["char_width"]), windows
        )
        self.tasks = [task["name"] for task in sidecar["tasks"]]
        self.threads = threads
        self.graph = read_graph(self.path)
        self.outputs = [output.name for output in self.graph.graph.output]
        self._sessions: dict[tuple[str, ...], tuple[Any, list[str]]] = {}
        self.session_for([self.output_name(task, "tag_ids") for task in self.tasks])

    @property
    def session(self) -> Any:
        """The onnxruntime session of the whole graph (every output)."""
        return self.session_for(self.outputs)[0]

    def session_for(self, outputs: Sequence[str]) -> tuple[Any, list[str]]:
        """An onnxruntime session that computes ``outputs`` (graph output names) and only what
        they need (``export/pruning.py``: onnxruntime would run every node), and the inputs it
        reads; made on first use (:meth:`new_session`)."""
        key = tuple(sorted(outputs))
        if key not in self._sessions:
            session = self.new_session(key)
            self._sessions[key] = (session, [node.name for node in session.get_inputs()])
        return self._sessions[key]

    def new_session(self, outputs: Sequence[str], profile: str | None = None) -> Any:
        """A new onnxruntime session of the graph cut to ``outputs``, at the sidecar's
        optimization level, on the CPU; ``profile``: onnxruntime's profiling on, its file named
        with that prefix (``session.end_profiling()`` writes it)."""
        runtime = onnxruntime()
        options = runtime.SessionOptions()
        level = self.sidecar["onnxruntime"]["graph_optimization_level"]
        options.graph_optimization_level = getattr(runtime.GraphOptimizationLevel, level)
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
        # idle pool threads sleep: spinning ones take the cores from the process's other
        # onnxruntime InferenceSessions (one for tags, one for scores) and from featurizing
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if profile is not None:
            options.enable_profiling = True
            options.profile_file_prefix = profile
        graph: Any = str(self.path)
        if set(outputs) != set(self.outputs):
            graph = outputs_only(self.graph, outputs).SerializeToString()
            folder = str(self.path.resolve().parent)  # where its weights file lies
            options.add_session_config_entry(WEIGHTS_FOLDER, folder)
        return runtime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    def output_name(self, task: str, kind: str) -> str:
        """The graph output ``kind`` (``tag_ids``, ``probabilities``, ``logits``) of ``task``."""
        return self.sidecar["outputs"][task][kind]

    def run(
        self,
        sentences: Sequence[Sequence[str]],
        contexts: Sequence[tuple[Sequence[str], Sequence[str]]] | None = None,
        documents: Sequence[int] | None = None,
        *,
        outputs: Sequence[str] | None = None,
        temperature: float = 1.0,
    ) -> dict[str, np.ndarray]:
        """The graph ``outputs`` (names; None: all) for one batch of sentences, with their
        ``(left, right)`` context words and documents when the model reads them."""
        names = list(outputs) if outputs is not None else self.outputs
        session, reads = self.session_for(names)
        feeds = self.features(sentences, contexts, documents)
        feeds["temperature"] = np.asarray(temperature, dtype=np.float32)
        found = session.run(names, {name: feeds[name] for name in reads})
        return dict(zip(names, found, strict=True))

    def tag_ids(
        self,
        sentences: Sequence[Sequence[str]],
        contexts: Sequence[tuple[Sequence[str], Sequence[str]]] | None = None,
        documents: Sequence[int] | None = None,
    ) -> dict[str, list[list[int]]]:
        """Each task's tag ids (train scheme) per sentence, cut to its length."""
        names = {task: self.output_name(task, "tag_ids") for task in self.tasks}
        found = self.run(sentences, contexts, documents, outputs=list(names.values()))
        cut = {}
        for task, name in names.items():
            rows = zip(found[name].tolist(), sentences, strict=True)
            cut[task] = [ids[: len(tokens)] for ids, tokens in rows]
        return cut
