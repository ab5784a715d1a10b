"""Prediction loads a checkpoint and tags without the training stack (Lightning, Hydra,
``datasets``): they are most of a command's start-up, and a service or a pipe needs none of them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TRAINING_STACK = ("lightning", "hydra", "omegaconf", "datasets", "torchmetrics", "pyarrow")


def _imported(code: str) -> set[str]:
    """The top-level packages imported by running ``code`` in a fresh interpreter."""
    shown = "import json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    script = f"{code}\n{shown}"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_seqtagger_predict_imports_no_training_stack(tiny_checkpoint: Path, tmp_path: Path):
    text = tmp_path / "in.txt"
    text.write_text("EU rejects German call to boycott British lamb .\nPeter Blackburn\n")
    output = tmp_path / "out.conll"
    argv = ["--ckpt", str(tiny_checkpoint), str(text), "-o", str(output), "--scores"]
    imported = _imported(f"from seqtagger.predict import main\nassert main({argv!r}) == 0")
    assert imported.isdisjoint(TRAINING_STACK), sorted(imported & set(TRAINING_STACK))
    assert len(output.read_text().split("\n\n")) >= 2


def test_the_python_api_imports_no_training_stack(tiny_checkpoint: Path):
    code = (
        "from seqtagger.inference import Predictor\n"
        f"predictor = Predictor.from_checkpoint({str(tiny_checkpoint)!r}, device='cpu')\n"
        "documents = predictor('EU rejects German call. Peter Blackburn went home.')\n"
        "assert len(documents[0].sentences) == 2"
    )
    imported = _imported(code)
    assert imported.isdisjoint(TRAINING_STACK), sorted(imported & set(TRAINING_STACK))
    assert "torch" in imported  # the check is of the interpreter that tagged
