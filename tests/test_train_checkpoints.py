"""In-process training tests of checkpoints: resuming equals an uninterrupted run, a checkpoint
rebuilds its model alone, testing a given checkpoint, and the messages when one is unusable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from seqtagger.checkpoint import load_checkpoint
from seqtagger.errors import ConfigError
from seqtagger.lightning_module import TaggerModule
from seqtagger.train import train
from tests.helpers import compose_train, tiny_ner_overrides
from tests.test_train import run_main


@pytest.mark.parametrize("callbacks", ["default", "[default,weight_averaging]"])
def test_resume_from_last_checkpoint_matches_uninterrupted(
    callbacks: str, tiny_ner_dir: Path, tmp_path: Path
) -> None:
    """Also with the EMA of the weights, whose average and raw weights both travel."""
    base = [*tiny_ner_overrides(tiny_ner_dir), f"callbacks={callbacks}", "seed=3"]
    base.append("callbacks.early_stopping=null")
    straight = train(compose_train([*base, "trainer.max_epochs=2"], tmp_path / "straight"))

    resumed_dir = tmp_path / "resumed"
    first = train(compose_train([*base, "trainer.max_epochs=1", "test=false"], resumed_dir))
    assert "val/f1" in first
    resumed = train(compose_train([*base, "trainer.max_epochs=2", "ckpt_path=auto"], resumed_dir))

    names = ("val/f1", "val/loss", "val/acc_best", "val/f1_best", "test/f1", "test/acc")
    for name in (*names, "test/loss"):
        assert resumed[name] == pytest.approx(straight[name], abs=1e-6), name
    last_straight = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.ckpt")
    last_resumed = load_checkpoint(resumed_dir / "checkpoints" / "last.ckpt")
    assert last_resumed["epoch"] == last_straight["epoch"] == 1
    states = ["state_dict"]
    if callbacks != "default":  # the average is the state_dict; the raw weights travel beside it
        states.append("current_model_state")
    for state in states:
        for key, weight in last_straight[state].items():
            torch.testing.assert_close(last_resumed[state][key], weight, msg=f"{state}: {key}")


def test_checkpoint_alone_rebuilds_the_model(tiny_ner_dir: Path, tmp_path: Path) -> None:
    cfg = compose_train(
        [*tiny_ner_overrides(tiny_ner_dir), "trainer.max_epochs=1", "test=false"], tmp_path
    )
    train(cfg)
    module = TaggerModule.from_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    assert module.labels[0] and "S-PER" in module.labels
    assert module.tasks[0].train_scheme == "bioes"


def test_train_false_tests_the_given_checkpoint(
    tiny_run: Path, tiny_checkpoint: Path, tiny_ner_dir: Path, tmp_path: Path
) -> None:
    """``train=false ckpt_path=X`` scores X, not random weights."""
    overrides = [*tiny_ner_overrides(tiny_ner_dir), "train=false", f"ckpt_path={tiny_checkpoint}"]
    metrics = train(compose_train(overrides, tmp_path))
    trained = json.loads((tiny_run / "metrics.json").read_text())
    assert metrics["test/f1"] == pytest.approx(trained["test/f1"], abs=1e-6)
    assert json.loads((tmp_path / "metrics.json").read_text())["test/f1"] == metrics["test/f1"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train=false"], "train=false tests a trained model: give ckpt_path=PATH"),
        (["trainer.max_epochs=0"], "trainer.max_epochs=0 trains nothing"),
    ],
)
def test_testing_untrained_weights_is_refused(
    overrides: list[str], message: str, tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """No run may write untrained scores to metrics.json."""
    code, err = run_main(
        [*tiny_ner_overrides(tiny_ner_dir), *overrides], tmp_path, monkeypatch, capsys
    )
    assert code == 2 and f"seqtagger-train: error: {message}" in err
    assert "Traceback" not in err
    assert not list(tmp_path.rglob("metrics.json"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["test=false"], "train=false with test=false runs nothing, and metrics.json would be"),
        (["data.files.test=null"], "but the data has no test split (data.files.test is not set)"),
    ],
)
def test_a_test_only_run_without_numbers_is_refused(
    overrides: list[str], message: str, tiny_checkpoint: Path, tiny_ner_dir: Path, tmp_path,
    monkeypatch, capsys,
) -> None:  # fmt: skip
    """``train=false ckpt_path=X`` with nothing to test exited 0 with ``metrics.json`` = ``{}``."""
    args = [*tiny_ner_overrides(tiny_ner_dir), "train=false", f"ckpt_path={tiny_checkpoint}"]
    code, err = run_main([*args, *overrides], tmp_path, monkeypatch, capsys)
    assert code == 2 and "seqtagger-train: error: " in err and message in err, err[-2000:]
    assert "Traceback" not in err and "Data <" not in err  # refused before reading the corpus
    assert not list(tmp_path.rglob("metrics.json"))


def test_checkpoint_loads_without_its_vectors_file(tiny_ner_dir: Path, tmp_path: Path) -> None:
    """The weights are in the checkpoint; loading or resuming never reads the
    ``model.embedding.pretrained`` file (here deleted), and ``freeze`` still holds on resume."""
    vector = [round(0.01 * i, 2) for i in range(16)]
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("the " + " ".join(map(str, vector)) + "\n", encoding="utf-8")
    run_dir = tmp_path / "run"
    base = [
        *tiny_ner_overrides(tiny_ner_dir),
        f"model.embedding.pretrained={vectors}",
        "model.embedding.freeze=true",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "test=false",
    ]
    train(compose_train([*base, "trainer.max_epochs=1"], run_dir))
    vectors.unlink()

    module = TaggerModule.from_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    the = module.vocabs["words"].stoi["the"]
    torch.testing.assert_close(
        module.tagger.embedder.word_embedding.weight[the], torch.tensor(vector)
    )
    train(compose_train([*base, "trainer.max_epochs=2", "ckpt_path=auto"], run_dir))
    resumed = load_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert resumed["epoch"] == 1
    weights = resumed["state_dict"]["tagger.embedder.word_embedding.weight"]
    torch.testing.assert_close(weights[the], torch.tensor(vector))


def test_best_trackers_survive_a_resume(tiny_checkpoint: Path) -> None:
    """``val/acc_best`` and ``val/f1_best`` travel in the checkpoint, and
    ``on_train_start`` of the resumed run starts from them instead of forgetting them."""
    module = TaggerModule.from_checkpoint(tiny_checkpoint)
    module.val_acc_best(torch.tensor(0.9))
    module.val_f1_best(torch.tensor(0.8))
    checkpoint = {"state_dict": module.state_dict()}
    module.on_save_checkpoint(checkpoint)

    resumed = TaggerModule.from_checkpoint(tiny_checkpoint)
    resumed.on_load_checkpoint(checkpoint)
    resumed.on_train_start()
    resumed.val_acc_best(torch.tensor(0.5))  # a worse epoch after the resume
    assert float(resumed.val_acc_best.compute()) == pytest.approx(0.9)
    assert float(resumed.val_f1_best.compute()) == pytest.approx(0.8)


def test_resuming_from_a_bad_checkpoint_is_one_message(
    tiny_checkpoint: Path, tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """A text file, a truncated last.ckpt (ckpt_path=auto) and a changed model
    size are reported as one line naming the file, not as tracebacks."""
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint\n", encoding="utf-8")
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    last.write_bytes(tiny_checkpoint.read_bytes()[:2000])
    cases = [
        ([f"ckpt_path={text}"], f"ckpt_path={text}: not a loadable checkpoint"),
        (["ckpt_path=auto"], f"ckpt_path={last}: not a loadable checkpoint"),
        (
            [f"ckpt_path={tiny_checkpoint}", "model.encoder.hidden_size=48"],
            f"ckpt_path={tiny_checkpoint}: the model was trained with other settings "
            "(model.encoder.hidden_size=32 in the checkpoint, 48 here)",
        ),
    ]
    for overrides, message in cases:
        args = [*tiny_ner_overrides(tiny_ner_dir), "trainer.max_epochs=4", *overrides]
        code, err = run_main(args, tmp_path, monkeypatch, capsys)
        assert code == 2 and f"seqtagger-train: error: {message}" in err, err
        assert "Traceback" not in err and "weights_only" not in err  # torch's advice


def test_one_cycle_resume_with_more_epochs_says_the_schedule_is_fixed(
    tiny_ner_dir: Path, tmp_path: Path
) -> None:
    """Not "Tried to step 4 times" in the middle of the run."""
    base = [*tiny_ner_overrides(tiny_ner_dir, "transformer"), "trainer.limit_train_batches=3"]
    base += ["trainer.limit_val_batches=1", "test=false"]
    train(compose_train([*base, "trainer.max_epochs=1"], tmp_path))
    resumed = compose_train([*base, "trainer.max_epochs=2", "ckpt_path=auto"], tmp_path)
    with pytest.raises(ConfigError, match="fixed by its first run at 3 steps"):
        train(resumed)


def test_a_sigterm_stops_the_run_with_exit_code_143(
    tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """Lightning exits 0 on SIGTERM; the run must not look finished to a shell or scheduler."""
    steps_per_epoch = 4
    args = [*tiny_ner_overrides(tiny_ner_dir), "trainer.max_epochs=3"]
    args += [f"trainer.limit_train_batches={steps_per_epoch}"]
    args += ["+callbacks.term._target_=tests.probes.SimulatedSigterm", "+callbacks.term.step=6"]
    code, err = run_main(args, tmp_path, monkeypatch, capsys)
    assert code == 143, err
    assert "seqtagger-train: stopped by SIGTERM at epoch 2, step 6; the last good checkpoint" in err
    assert "last.ckpt (resume with ckpt_path=auto)" in err
    assert not (tmp_path / "run" / "metrics.json").exists()
