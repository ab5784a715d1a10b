"""Write the committed checkpoints of one format, and what that seqtagger made of them.

Run it with the seqtagger of the format being recorded on the path (a clean checkout of that
commit), from this checkout's root::

    git worktree add /tmp/old HEAD
    PYTHONPATH=/tmp/old:/tmp/old/src python tests/checkpoints/write_checkpoints.py \
        tests/checkpoints/format1

It trains tiny taggers on ``tests/checkpoints/corpus/`` (written first when missing), copies
each run's ``last.ckpt`` (and one run's best checkpoint) into ``OUT/<model>/`` and writes
``OUT/expected.json``: the overrides of each model, the test metrics of ``train=false`` on its
last checkpoint, the metrics of ``seqtagger-eval`` on the test file and the tags ``Predictor``
gives its sentences.
``tests/test_checkpoint_formats.py`` asserts that today's seqtagger gives the same.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"
SMALL = [
    "data=files",
    "paths.data_dir={corpus}",
    "data.files.train=train.txt",
    "data.files.validation=dev.txt",
    "data.files.test=test.txt",
    "data.file_scheme=iob2",
    "data.train_scheme=bioes",
    "data.headline=f1",
    "data.batch_size=8",
    "model.embedding.word_dim=8",
    "model.embedding.char_dim=4",
    "model.embedding.char_filters=4",
    "model.encoder.hidden_size=8",
    "callbacks.rich_progress_bar=null",
    "model.optimizer.lr=0.01",
    "trainer.max_epochs=12",
    "seed=1",
]
HF = [o for o in SMALL if not o.startswith(("model.embedding", "model.encoder"))] + [
    "model=hf",
    "model/head=crf",
    "model.optimizer.groups.0.lr=0.001",
    "model.embedding.model_name_or_path={bert}",
]
MODELS = {
    "linear": SMALL,
    "crf": [*SMALL, "model/head=crf"],
    "context": [*SMALL, "model/head=crf", "data.context=3"],
    "memory": [
        *SMALL,
        "model/memory=document",
        "data.batch_unit=documents",
        "data.batch_size=3",
        "data.eval_batch_size=2",
    ],
    "charlstm": [*SMALL, "model/embedding=word_charlstm", "model/head=crf"],
    "hf": HF,
}
# the one model whose best checkpoint is kept beside last.ckpt (a run folder to resume)
WHOLE_RUN = "linear"
KEPT_APART = shutil.ignore_patterns("MODEL_CARD.md", "best.ckpt")
EVAL_KEYS = ("acc", "precision", "recall", "f1", "strict/f1")
TEST_KEYS = ("test/acc", "test/f1", "test/loss")


def write_corpus() -> None:
    """Documents of 3-5 generated NER sentences, ``-DOCSTART-`` before each (IOB2)."""
    from tests.documents import write_ner_documents

    CORPUS.mkdir(parents=True, exist_ok=True)
    write_ner_documents(CORPUS, 11, {"train.txt": 30, "dev.txt": 6, "test.txt": 8})


def record(name: str, overrides: list[str], out: Path, work: Path) -> dict:
    """Train one model, keep its checkpoints, and what eval, train=false and predict give."""
    from seqtagger.eval import evaluate
    from seqtagger.inference import Predictor
    from seqtagger.train import train
    from tests.documents import read_documents
    from tests.helpers import compose_config, compose_train

    given = [o.format(corpus=CORPUS, bert=work / "bert") for o in overrides]
    run = work / name
    train(compose_train(given, run))
    if name == WHOLE_RUN:  # its card names this machine's folders; best.ckpt is a link
        shutil.copytree(run / "checkpoints", out / name, ignore=KEPT_APART)
    else:
        (out / name).mkdir()
        shutil.copy2(run / "checkpoints" / "last.ckpt", out / name)
    last = out / name / "last.ckpt"
    test_file = CORPUS / "test.txt"
    eval_cfg = compose_config(
        "eval", [f"ckpt_path={last}", "device=cpu", f"+sets.test={test_file}"], work / "eval"
    )
    scores = evaluate(eval_cfg)["test"]
    tested = None
    if name != "hf":  # train=false reads the tokenizer from its folder: not committed
        tested = train(compose_train([*given, "train=false", f"ckpt_path={last}"], work / "t"))
    sentences, documents = read_documents(test_file)
    tags = Predictor.from_checkpoint(last, device="cpu").predict(sentences, documents)
    return {
        "overrides": overrides,
        "eval": {key: scores[key] for key in EVAL_KEYS},
        "train_false": None if tested is None else {key: tested[key] for key in TEST_KEYS},
        "predictions": tags,
    }


def main(out: Path) -> None:
    from tests.helpers import write_tiny_bert

    if not CORPUS.is_dir():
        write_corpus()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="seqtagger-checkpoints-") as folder:
        work = Path(folder)
        write_tiny_bert(work / "bert")
        expected = {name: record(name, given, out, work) for name, given in MODELS.items()}
    (out / "expected.json").write_text(json.dumps(expected, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
