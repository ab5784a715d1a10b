"""int8: dynamic quantization of an exported graph with onnxruntime's quantizer.

The weights of matrix products (linear layers, attention), LSTMs and embedding tables become
int8 (embeddings uint8) with one scale each; activations are quantized on the fly, batch by
batch. The character CNN's convolution stays float32 (:data:`QUANTIZED`). Constants are folded
first (onnxruntime's basic optimizations, saved as a graph): the exported graph assembles each
LSTM's weights at run time (its gates reordered for ONNX), and the quantizer only quantizes
weights it finds as constants. Decoding (Viterbi, argmax) and the probabilities stay in
float32. Not ``torch.ao.quantization``: the int8 graph is for onnxruntime.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from seqtagger.export.graph import quietly
from seqtagger.export.session import onnxruntime

__all__ = ["QUANTIZED", "quantize_graph"]

QUANTIZED = ("MatMul", "Attention", "LSTM", "Gather", "EmbedLayerNormalization")
"""The operators whose weights become int8: those onnxruntime's dynamic quantization knows but
``Conv``, whose integer kernel (``ConvInteger``) runs much slower than the float one on the CPU,
for the few weights of the character CNN."""


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
        own_lstm_weights(folded, "folded.onnx.data" if external else None)
        quantized = Path(folder) / path.name
        with quietly(""):  # onnxruntime's quantizer logs its notes on the root logger
            quantize_dynamic(
                folded,
                quantized,
                weight_type=QuantType.QInt8,
                use_external_data_format=external,
                op_types_to_quantize=list(QUANTIZED),
                extra_options={"DefaultTensorType": 1},  # float: for tensors of unknown type
            )
        weights.unlink(missing_ok=True)
        files = [path]
        os.replace(quantized, path)
        if external:
            os.replace(quantized.with_name(quantized.name + ".data"), weights)
            files.append(weights)
    return files


def own_lstm_weights(path: Path, weights: str | None) -> None:
    """Give each ``LSTM`` node of the graph at ``path`` weights of its own (copies): the
    quantizer rewrites an LSTM's weights in place (transposed for ``DynamicQuantizeLSTM``), so
    weights that several nodes share (``export/lean.py``'s length groups) would be rewritten
    once per node. ``weights``: the file beside it that holds the large ones, if any."""
    import onnx

    model = onnx.load(str(path))
    tensors = {tensor.name: tensor for tensor in model.graph.initializer}
    seen: set[str] = set()
    for node in (node for node in model.graph.node if node.op_type == "LSTM"):
        for index in (1, 2):  # W and R; the quantizer reads the bias as it is
            name = node.input[index]
            if name in seen and name in tensors:
                copy = onnx.TensorProto()
                copy.CopyFrom(tensors[name])
                copy.name = node.input[index] = f"{name}.{node.name}"
                model.graph.initializer.append(copy)
            seen.add(name)
    if weights is None:
        onnx.save(model, str(path))
    else:
        onnx.save(model, str(path), save_as_external_data=True, location=weights)
