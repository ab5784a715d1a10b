"""int8: dynamic quantization of an exported graph with onnxruntime's quantizer.

The weights of matrix products (linear layers, attention), convolutions (the character CNN),
LSTMs and embedding tables become int8 (embeddings uint8) with one scale each; activations are
quantized on the fly, batch by batch. Constants are folded first (onnxruntime's basic
optimizations, saved as a graph): the exported graph assembles each LSTM's weights at run time
(its gates reordered for ONNX), and the quantizer only quantizes weights it finds as constants.
Decoding (Viterbi, argmax) and the probabilities stay in float32. Not ``torch.ao.quantization``:
the int8 graph is for onnxruntime.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from seqtagger.export.graph import quietly
from seqtagger.export.session import onnxruntime

__all__ = ["quantize_graph"]


def quantize_graph(path: Path) -> list[Path]:
    """Replace the float32 graph at ``path`` (and its ``<path>.data`` weights, when beside it)
    by its int8 version; returns the graph's files."""
    runtime = onnxruntime()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    weights = path.with_name(path.name + ".data")
    external = weights.exists()
    with tempfile.TemporaryDirectory(prefix=".quantize.", dir=path.parent) as folder:
        folded = Path(folder) / "folded.onnx"
        options = runtime.SessionOptions()
        options.graph_optimization_level = runtime.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(folded)
        if external:  # the folded graph's weights apart too (a vector store's table)
            options.add_session_config_entry(
                "session.optimized_model_external_initializers_file_name", "folded.onnx.data"
            )
        runtime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        quantized = Path(folder) / path.name
        with quietly(""):  # onnxruntime's quantizer logs its notes on the root logger
            quantize_dynamic(
                folded,
                quantized,
                weight_type=QuantType.QInt8,
                use_external_data_format=external,
                extra_options={"DefaultTensorType": 1},  # float: for tensors of unknown type
            )
        weights.unlink(missing_ok=True)
        files = [path]
        os.replace(quantized, path)
        if external:
            os.replace(quantized.with_name(quantized.name + ".data"), weights)
            files.append(weights)
    return files
