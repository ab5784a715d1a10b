"""Exporting a trained tagger to ONNX and running it with onnxruntime.

``graph`` (the whole tagger as one graph: featurized inputs -> decoded tag ids per task),
``sidecar`` (the JSON beside it: vocabularies, labels, settings), ``features`` (featurizing and
padding in numpy), ``exporter`` (checkpoint -> files), ``session`` (featurize and run a graph,
without torch), ``runtime`` (:class:`OnnxPredictor`, the ``Predictor`` API on a graph),
``quantize`` (int8) and ``cli`` (``seqtagger-export``). Needs the extra ``seqtagger[onnx]``.
"""
