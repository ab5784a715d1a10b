"""Where the time of a batch goes: onnxruntime's profile of an exported graph (cut to the tags, as
``OnnxPredictor.predict`` runs it) and torch's of ``Tagger.decode``, by operator.

    python -m benchmarks export --ckpt CKPT --profile ...   # a "profile" section in its JSON

Both run the same batches of 64 sentences featurized beforehand (the model alone), once to warm
up, then once profiled. Shares are of the profiled time: onnxruntime's top-level nodes (a
``Scan``'s body counts in its ``Scan``), by operator type and the heaviest nodes by name; torch's
operators by self CPU time. Relative shares stay meaningful on a busy machine, where absolute
times do not.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from seqtagger.data.collate import collate_columns
from seqtagger.export.pruning import outputs_only
from seqtagger.export.session import OnnxTagger

TOP = 12


def onnx_profile(model: OnnxTagger, batches: list[list[list[str]]]) -> dict[str, Any]:
    """``model``'s graph cut to the tags on ``batches``: milliseconds a batch (profiled), the
    share of each operator type and of the :data:`TOP` heaviest nodes."""
    outputs = [model.output_name(task, "tag_ids") for task in model.tasks]
    nodes = {node.name: node.op_type for node in outputs_only(model.graph, outputs).graph.node}
    with tempfile.TemporaryDirectory(prefix="seqtagger_profile_") as folder:
        session = model.new_session(outputs, profile=str(Path(folder) / "onnxruntime"))
        reads = [node.name for node in session.get_inputs()]
        feeds = [{name: model.features(batch)[name] for name in reads} for batch in batches]
        for feed in feeds + feeds:  # the first pass warms up (allocations, weights' first touch)
            session.run(outputs, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    runs = sorted(e["ts"] for e in events if e.get("name") == "model_run")
    measured_from = runs[len(feeds)]  # the second pass's first run
    by_node: Counter[str] = Counter()
    for event in events:
        name = str(event.get("name", ""))
        if event.get("cat") == "Node" and name.endswith("_kernel_time"):
            node = name.removesuffix("_kernel_time")
            if node in nodes and event["ts"] >= measured_from:
                by_node[node] += int(event["dur"])
    total = sum(by_node.values()) or 1
    by_type: Counter[str] = Counter()
    for node, micros in by_node.items():
        by_type[nodes[node]] += micros
    return {
        "ms_per_batch": total / 1000 / len(batches),
        "operators": shares(by_type, total),
        "nodes": {
            f"{node} ({nodes[node]})": round(micros / total, 4)
            for node, micros in by_node.most_common(TOP)
        },
    }


def torch_profile(module: Any, batches: list[list[list[str]]]) -> dict[str, Any]:
    """``Tagger.decode`` on ``batches`` collated beforehand: milliseconds a batch (profiled)
    and the share of self CPU time of the :data:`TOP` heaviest operators."""
    from torch.profiler import ProfilerActivity, profile

    featurizer, tagger = module.featurizer, module.tagger
    collated = [collate_columns(featurizer.encode(b), featurizer.pad_values) for b in batches]
    with torch.inference_mode():
        for batch in collated:
            tagger.decode(batch)
        with profile(activities=[ProfilerActivity.CPU]) as profiled:
            for batch in collated:
                tagger.decode(batch)
    rows = Counter({row.key: row.self_cpu_time_total for row in profiled.key_averages()})
    total = sum(rows.values()) or 1
    return {"ms_per_batch": total / 1000 / len(batches), "operators": shares(rows, total)}


def shares(micros: Counter[str], total: float) -> dict[str, float]:
    """The :data:`TOP` heaviest keys' shares of ``total``, the rest as ``(other)``."""
    top = {key: round(value / total, 4) for key, value in micros.most_common(TOP)}
    return {**top, "(other)": round(1 - sum(top.values()), 4)}
