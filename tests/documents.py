"""Tiny NER corpora of documents, and the checks that ``seqtagger-eval`` and
``seqtagger-predict`` read a trained run's test documents as its training run did (shared by the
document context and document memory tests)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from seqtagger.data.readers import ConllReader
from tests.helpers import compose_config, make_ner_sentence
from tests.predict_cli import cli, jsonl


def write_ner_documents(folder: Path, seed: int, documents: dict[str, int]) -> None:
    """CoNLL files ``{name: document count}`` under ``folder``: random NER documents of 3-5
    sentences, each after a ``-DOCSTART-`` line (one generator for all files)."""
    rng = random.Random(seed)
    for name, count in documents.items():
        lines = []
        for _ in range(count):
            lines += ["-DOCSTART- -X- O O", ""]
            for _ in range(rng.randint(3, 5)):
                tokens, tags = make_ner_sentence(rng)
                lines += [f"{t} X {g}" for t, g in zip(tokens, tags, strict=True)] + [""]
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def eval_reproduces_training(run_dir: Path, tmp_path: Path) -> Path:
    """The run's last epoch checkpoint, once ``seqtagger-eval`` on it has given the training
    run's ``test/acc``, ``test/f1`` and ``test/strict/f1`` (to 1e-6)."""
    from seqtagger.eval import evaluate

    trained = json.loads((run_dir / "metrics.json").read_text())
    best = sorted((run_dir / "checkpoints").glob("epoch_*.ckpt"))[-1]
    cfg = compose_config("eval", [f"ckpt_path={best}", "device=cpu"], tmp_path)
    results = evaluate(cfg)
    for name in ("acc", "f1", "strict/f1"):
        assert results["test"][name] == pytest.approx(trained[f"test/{name}"], abs=1e-6), name
    return best


def read_documents(path: Path) -> tuple[list[list[str]], list[int]]:
    """The tokens and the document of every sentence of a CoNLL file."""
    rows = list(ConllReader().iter_sentences(path))
    return [r["tokens"] for r in rows], [r["document"] for r in rows]


def predicted_by_cli(capsys: pytest.CaptureFixture[str], ckpt: Path, path: Path) -> list:
    """The tags ``seqtagger-predict --format jsonl`` gives each sentence of ``path`` (it reads
    the file's documents, ``-DOCSTART-``, as eval does)."""
    code, out, err = cli(capsys, "--ckpt", ckpt, path, "--format", "jsonl")
    assert code == 0, err
    return [record["tags"] for record in jsonl(out)]
