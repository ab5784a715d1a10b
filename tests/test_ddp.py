"""DDP the way clusters run it: ``trainer=ddp_sim`` (Lightning's ``ddp`` strategy and its
subprocess launcher, 2 CPU processes over gloo) started as a command, as users start it."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from seqtagger.eval import evaluate
from tests.helpers import (
    compose_config,
    make_ner_sentence,
    run_module,
    tiny_ner_overrides,
    write_conll,
)

PROBE = "+callbacks.probe._target_=tests.probes.RecordTrainingRows"
QUIET = ["callbacks.rich_progress_bar=null", "extras.print_config=false"]
EPOCHS = 2


def conll_slice(source: Path, target: Path, count: int) -> int:
    """The first ``count`` sentences of a CoNLL-2003 file (no ``-DOCSTART-``); their number."""
    blocks = [
        block
        for block in source.read_text(encoding="utf-8").split("\n\n")
        if block.strip() and not block.startswith("-DOCSTART-")
    ][:count]
    target.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return len(blocks)


def train_args(run_dir: Path, data_dir: Path) -> list[str]:
    """``seqtagger-train`` arguments: CoNLL-2003 slices in ``data_dir``, outputs in ``run_dir``."""
    return [
        "trainer=ddp_sim",
        f"trainer.max_epochs={EPOCHS}",
        "data=files",
        f"paths.data_dir={data_dir}",
        "data.files.train=train.txt",
        "data.files.validation=dev.txt",
        "data.files.test=test.txt",
        "data.file_scheme=iob1",
        "data.train_scheme=bioes",
        "data.headline=f1",
        "data.batch_size=16",
        "data.eval_batch_size=32",
        "model.optimizer.lr=0.005",
        f"hydra.run.dir={run_dir}",
        "callbacks.rich_progress_bar=null",
        "extras.print_config=true",  # the config tree is printed (and counted: rank 0 only)
    ]


@pytest.mark.slow
def test_ddp_sim_trains_like_one_process(real_data_dir: Path, tmp_path: Path) -> None:
    """2 ranks see every training sentence once per epoch, with the same vocabulary;
    their summed test metrics equal seqtagger-eval's on the same checkpoint in one process;
    the run folder holds one config, one metrics.json and one train.log with every epoch."""
    data = tmp_path / "data"
    data.mkdir()
    conll = real_data_dir / "conll2003"
    n_train = conll_slice(conll / "train.txt", data / "train.txt", 1000)
    conll_slice(conll / "dev.txt", data / "dev.txt", 200)
    conll_slice(conll / "test.txt", data / "test.txt", 300)
    run, probe = tmp_path / "run", tmp_path / "probe"

    start = time.perf_counter()
    args = [*train_args(run, data), PROBE, f"+callbacks.probe.folder={probe}"]
    done = run_module("seqtagger.train", args, cwd=tmp_path)
    print(f"ddp_sim: 2 ranks, {EPOCHS} epochs in {time.perf_counter() - start:.1f} s")
    assert done.returncode == 0, done.stderr[-3000:]

    # (a) each epoch: disjoint rows, equal batch counts, together every sentence exactly once
    records = {path.stem: json.loads(path.read_text()) for path in probe.glob("*.json")}
    assert sorted(records) == [f"rank{r}_epoch{e}" for r in (0, 1) for e in range(EPOCHS)]
    orders = []
    for epoch in range(EPOCHS):
        ranks = [records[f"rank{r}_epoch{epoch}"] for r in (0, 1)]
        assert [r["world_size"] for r in ranks] == [2, 2]
        assert ranks[0]["batches"] == ranks[1]["batches"] > 0
        assert not set(ranks[0]["rows"]) & set(ranks[1]["rows"])
        assert sorted(ranks[0]["rows"] + ranks[1]["rows"]) == list(range(n_train))
        assert ranks[0]["vocabs"] == ranks[1]["vocabs"]  # the same vocabulary on every rank
        orders.append(ranks[0]["rows"])
    assert orders[0] != orders[1]  # reshuffled each epoch

    # (b) the test metrics of the run = seqtagger-eval on the tested checkpoint, one process
    trained = json.loads((run / "metrics.json").read_text())
    [best] = (run / "checkpoints").glob("epoch_*.ckpt")
    cfg = compose_config("eval", [f"ckpt_path={best}", "device=cpu"], tmp_path / "eval")
    alone = evaluate(cfg)["test"]
    assert trained["test/f1"] > 0.1, trained  # spans found: the comparison means something
    for name in ("acc", "precision", "recall", "f1", "strict/f1"):
        assert alone[name] == pytest.approx(trained[f"test/{name}"], abs=1e-6), name

    # (c) one set of run files (rank 0's) and every epoch's summary line in train.log
    files = {str(path.relative_to(run)) for path in run.rglob("*") if path.is_file()}
    assert {"config.yaml", "metrics.json", "train.log"} <= files
    assert len([f for f in files if f.endswith(".log")]) == 1, files
    writers = {f.split(".")[-2] for f in files if "tfevents" in f}  # events.*.<host>.<pid>.<n>
    assert len(writers) == 1, files  # one process wrote TensorBoard events
    assert {f for f in files if f.endswith("config.yaml")} == {"config.yaml", ".hydra/config.yaml"}
    log = (run / "train.log").read_text()
    for epoch in range(1, EPOCHS + 1):
        assert log.count(f"epoch {epoch}/{EPOCHS}: ") == 1, log
    assert "[rank: 1]" not in log
    assert (done.stdout + done.stderr).count("CONFIG") == 1  # the config tree, printed once


@pytest.mark.slow
def test_ddp_with_fewer_eval_batches_than_ranks(tiny_ner_dir: Path, tmp_path: Path) -> None:
    """A dev/test split of one batch on two ranks: every rank gets a share."""
    rng = random.Random(3)
    few = write_conll(tmp_path / "few.txt", [make_ner_sentence(rng) for _ in range(3)])
    args = [*tiny_ner_overrides(tiny_ner_dir), "trainer=ddp_sim", "trainer.max_epochs=1"]
    args += [f"data.files.validation={few}", f"data.files.test={few}", *QUIET]
    args += [f"hydra.run.dir={tmp_path / 'run'}"]
    done = run_module("seqtagger.train", args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert 0.0 <= metrics["test/f1"] <= 1.0


def test_an_empty_share_of_an_evaluation_split_scores_nothing(
    tiny_checkpoint: Path, tiny_ner_dir: Path
) -> None:
    """The rank left over when a split has fewer documents than ranks gets a batch of no rows:
    it collates to an empty batch, which the module's evaluation steps skip."""
    from seqtagger.data.datamodule import TaggingDataModule
    from seqtagger.lightning_module import TaggerModule

    module = TaggerModule.from_checkpoint(tiny_checkpoint)
    files = {"train": "train.txt", "validation": "dev.txt", "test": "test.txt"}
    datamodule = TaggingDataModule(files=files, data_dir=str(tiny_ner_dir), file_scheme="iob2")
    datamodule.setup("test")
    collate = datamodule.test_dataloader().collate_fn
    assert collate([]) == {}
    module.validation_step(collate([]), 0)
    module.test_step(collate([]), 0)
    assert module.metrics["val"].loss.weight == module.metrics["test"].loss.weight == 0
    module.test_step(collate([datamodule.datasets["test"][0]]), 0)
    assert module.metrics["test"].loss.weight > 0


@pytest.mark.slow
def test_ddp_scores_a_one_document_test_set_as_one_process(
    tiny_ner_dir: Path, tmp_path: Path
) -> None:
    """A document memory on whole-document batches, dev and test sets of one document each
    (40 sentences after one -DOCSTART-) on two ranks: one rank scores the whole document, the
    other an empty batch, and the test metrics equal seqtagger-eval's in one process (a
    document split between the ranks pooled each half alone: 0.6558 against 0.6542)."""
    args = [*tiny_ner_overrides(tiny_ner_dir), "trainer=ddp_sim", "trainer.max_epochs=3"]
    args += ["model/memory=document", "data.batch_unit=documents", "data.batch_size=1"]
    args += ["data.eval_batch_size=1", *QUIET, f"hydra.run.dir={tmp_path / 'run'}"]
    done = run_module("seqtagger.train", args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    trained = json.loads((tmp_path / "run" / "metrics.json").read_text())
    [best] = (tmp_path / "run" / "checkpoints").glob("epoch_*.ckpt")
    cfg = compose_config("eval", [f"ckpt_path={best}", "device=cpu"], tmp_path / "eval")
    alone = evaluate(cfg)["test"]
    assert trained["test/f1"] > 0.05, trained  # spans found: the comparison means something
    for name in ("acc", "precision", "recall", "f1", "strict/f1"):
        assert alone[name] == pytest.approx(trained[f"test/{name}"], abs=1e-6), name


def test_ddp_reports_bad_input_in_one_line(tmp_path: Path) -> None:
    """The corpus is read before Lightning starts the other ranks: bad input is one message
    and exit code 2, with no rank left waiting for the one that failed."""
    args = ["trainer=ddp_sim", "data=files", f"paths.data_dir={tmp_path}", *QUIET]
    args += ["data.files.train=absent.conll", "data.files.validation=absent.conll"]
    args += [f"hydra.run.dir={tmp_path / 'run'}"]
    done = run_module("seqtagger.train", args, cwd=tmp_path, timeout=120)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "seqtagger-train: error: data.files.train:" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "Initializing distributed" not in done.stderr + done.stdout  # no rank was started


@pytest.mark.parametrize("rank", [0, 1])
def test_a_nan_loss_on_one_rank_stops_every_rank_with_one_message(
    rank: int, tiny_ner_dir: Path, tmp_path: Path
) -> None:
    """The ranks agree on the loss before the backward pass: the rank whose loss is NaN names
    its batch, the other names that rank, and neither fails inside the gradients' all-reduce
    (without the agreement the healthy rank died with gloo's "Connection closed by peer")."""
    args = [*tiny_ner_overrides(tiny_ner_dir), "trainer=ddp_sim", "trainer.max_epochs=2", *QUIET]
    args += ["+callbacks.poison._target_=tests.probes.PoisonOneRank"]
    args += [f"+callbacks.poison.rank={rank}", f"hydra.run.dir={tmp_path / 'run'}"]
    done = run_module("seqtagger.train", args, cwd=tmp_path, timeout=300)
    assert done.returncode == 2, done.stderr[-3000:]
    assert f"error: the training loss is nan on rank {rank} at step 1 (epoch 0" in done.stderr
    healthy = f"error: the training loss is not finite on rank {rank} at step 1: stopped on every"
    assert healthy in done.stderr
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
