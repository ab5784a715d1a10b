"""The ONNX prediction path (``OnnxPredictor``, ``seqtagger-predict --backend onnx``) runs where
torch cannot be imported: a service or an edge device needs onnxruntime and numpy only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.exports import sentences
from tests.helpers import REPO_ROOT, checkout_env
from tests.test_export import HIDE_TORCH, bilstm_crf

pytest.importorskip("onnxruntime", reason="the optional extra seqtagger[onnx]")

__all__ = ["bilstm_crf"]  # the fixture, shared with test_export.py

TEXT = "EU rejects German call. Anna Smith flew to Paris on Monday!"

PREDICT_WITHOUT_TORCH = (
    HIDE_TORCH
    + """
from seqtagger.export.runtime import OnnxPredictor
from seqtagger.predict import main

predictor = OnnxPredictor(sys.argv[1], threads=1)
documents = predictor(sys.argv[3], scores=True)
print(json.dumps({
    "tags": predictor.predict(json.loads(sys.argv[2])),
    "text": [[token.tag for token in sentence.tokens] for sentence in documents[0].sentences],
}))
argv = ["--backend", "onnx", "--ckpt", sys.argv[1], sys.argv[4], "-o", sys.argv[5]]
assert main([*argv, "--format", "jsonl", "--no-progress"]) == 0
assert not [name for name in sys.modules if name.split(".")[0] in ("torch", "lightning")]
"""
)


def test_the_onnx_predictor_and_command_run_without_torch(bilstm_crf, tmp_path: Path) -> None:
    path = bilstm_crf[1]
    batch = sentences(7, seed=3)
    text_file, output = tmp_path / "in.txt", tmp_path / "out.jsonl"
    text_file.write_text(TEXT + "\n")
    argv = [str(path), json.dumps(batch), TEXT, str(text_file), str(output)]
    process = subprocess.run(
        [sys.executable, "-c", PREDICT_WITHOUT_TORCH, *argv],
        capture_output=True,
        text=True,
        env=checkout_env(),
        cwd=REPO_ROOT,
        timeout=180,
    )
    assert process.returncode == 0, process.stderr
    found = json.loads(process.stdout.splitlines()[-1])
    from seqtagger.export.runtime import OnnxPredictor

    with_torch = OnnxPredictor(path, threads=1)
    assert found["tags"] == with_torch.predict(batch)
    expected = [[token.tag for token in s.tokens] for s in with_torch(TEXT)[0].sentences]
    assert found["text"] == expected and len(expected) == 2
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert [record["tags"] for record in records] == expected
