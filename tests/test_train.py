"""In-process training tests on the real configs (lightning-hydra-template style)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from seqtagger.checkpoint import load_checkpoint
from seqtagger.errors import ConfigError
from seqtagger.lightning_module import TaggerModule
from seqtagger.train import train
from tests.helpers import (
    compose_train,
    run_hydra_main,
    tiny_ner_overrides,
)

NO_MONITORS = ["callbacks.model_checkpoint=null", "callbacks.early_stopping=null"]


def scalar_steps(folder: Path) -> dict[str, list[int]]:
    """The steps at which each scalar tag was written, in the event files under ``folder``."""
    steps: dict[str, list[int]] = {}
    for events in folder.rglob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            steps.setdefault(tag, []).extend(e.step for e in accumulator.Scalars(tag))
    return steps


def event_tags(folder: Path) -> set[str]:
    """Every scalar tag in the TensorBoard event files under ``folder``, plus ``"<hparams>"``
    when a file holds an hparams session (the HPARAMS tab)."""
    tags: set[str] = set()
    for events in folder.rglob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        tags |= set(accumulator.Tags()["scalars"])
        try:
            if "_hparams_/experiment" in accumulator.PluginTagToContent("hparams"):
                tags.add("<hparams>")
        except KeyError:  # this file has no hparams plugin data
            pass
    return tags


@pytest.mark.parametrize("model", ["bilstm", "transformer"])
def test_fast_dev_run(
    model: str, tiny_ner_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = compose_train([*tiny_ner_overrides(tiny_ner_dir, model), "debug=fdr"], tmp_path)
    with caplog.at_level("INFO", logger="seqtagger.callbacks"):
        metrics = train(cfg)
    assert "epoch 1/" in caplog.text and "train tokens/s" in caplog.text  # EpochSummary
    assert {"test/loss", "test/acc", "test/f1", "test/strict/f1"} <= set(metrics)
    assert 0.0 <= metrics["test/f1"] <= 1.0


def test_seed_zero_is_honoured(tiny_ner_dir: Path, tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        cfg = compose_train(
            [*tiny_ner_overrides(tiny_ner_dir), "debug=fdr", "seed=0"], tmp_path / name
        )
        runs.append(train(cfg)["test/loss"])
    assert runs[0] == runs[1]


@pytest.mark.parametrize(("corpus", "headline"), [("ud_ewt", "acc"), ("conll2003", "f1")])
def test_one_epoch_on_real_corpus(
    corpus: str, headline: str, real_data_dir: Path, tmp_path: Path
) -> None:
    cfg = compose_train(
        [
            f"data={corpus}",
            f"paths.data_dir={real_data_dir}",
            "trainer.max_epochs=1",
            "trainer.limit_train_batches=8",
            "trainer.limit_val_batches=4",
            "trainer.limit_test_batches=4",
            "trainer.log_every_n_steps=2",
            "model.encoder.hidden_size=32",
            "model.embedding.word_dim=16",
            "model.embedding.char_filters=8",
            "callbacks.rich_progress_bar=null",
        ],
        tmp_path,
    )
    metrics = train(cfg)

    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "checkpoints" / "epoch_000.ckpt").is_file()
    assert (tmp_path / "config.yaml").is_file()
    labels = json.loads((tmp_path / "vocab" / "labels.json").read_text())
    assert (
        labels["itos"]
        == load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["seqtagger"]["vocabs"]["labels"][
            "itos"
        ]
    )
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written[f"test/{headline}"] == pytest.approx(metrics[f"test/{headline}"])

    tags = event_tags(tmp_path / "tensorboard")
    expected = {"train/loss_step", "train/loss", "train/acc", "val/loss", "val/acc", "val/acc_best"}
    expected |= {"test/loss", "test/acc", "lr-Adam", "<hparams>", f"hp/test/{headline}"}
    if headline == "f1":
        expected |= {
            "val/f1",
            "val/f1_best",
            "val/precision",
            "val/recall",
            "test/f1",
            "test/strict/f1",
        }
    assert expected <= tags, sorted(expected - tags)
    # the step loss is handed to self.log on the loggers' steps only (8 batches, every 2)
    steps = scalar_steps(tmp_path / "tensorboard")
    assert steps["train/loss_step"] == [1, 3, 5, 7]

    checkpoint = load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")  # weights_only=True
    assert checkpoint["seqtagger"]["headline"] == headline
    assert checkpoint["seqtagger"]["vocabs"]["labels"]["itos"]


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
    assert module.data_info["train_scheme"] == "bioes"


def test_no_test_split_skips_testing(tiny_ner_dir: Path, tmp_path: Path) -> None:
    overrides = [*tiny_ner_overrides(tiny_ner_dir), "debug=fdr", "data.files.test=null"]
    metrics = train(compose_train(overrides, tmp_path))
    assert "val/f1" in metrics and not any(name.startswith("test/") for name in metrics)


def test_bad_input_ends_in_one_message(tmp_path: Path, capsys, monkeypatch) -> None:
    from seqtagger.train import main

    args = ["data=files", f"paths.data_dir={tmp_path}", "data.files.train=absent.conll"]
    args += ["data.files.validation=absent.conll", f"hydra.run.dir={tmp_path / 'run'}"]
    monkeypatch.setattr("sys.argv", ["seqtagger-train", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "seqtagger-train: error: data.files.train:" in err and "absent.conll" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.file_scheme=iob3", "data.file_scheme=iob3: unknown tag scheme"),
        ("data.headline=F1", "data.headline='F1'"),
        ("data.batch_size=0", "data.batch_size=0: expected an integer >= 1"),
        ("data.eval_batch_size=-1", "data.eval_batch_size=-1: expected an integer >= 1"),
        ("data.eval_batch_size=0", "data.eval_batch_size=0: expected an integer >= 1"),
        ("seed=-5", "seed=-5: expected an integer from 0 to"),
        ("model.embedding.char_filters=0", "model.embedding.char_filters=0: expected >= 1"),
    ],
)
def test_bad_config_value_is_one_message_naming_the_key(
    override: str, message: str, tiny_ner_dir: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    """Issue 7, item 15: these exited 1 through Hydra's wrapper, gave tracebacks, named the
    wrong key or none, or trained silently."""
    from seqtagger.train import main

    args = [*tiny_ner_overrides(tiny_ner_dir), "trainer=cpu", "logger=csv", override]
    argv = ["seqtagger-train", *args, f"hydra.run.dir={tmp_path / 'run'}"]
    code, err = run_hydra_main(main, argv, monkeypatch, capsys)
    assert code == 2, err[-2000:]
    last = err.strip().splitlines()[-1]  # datasets' progress bars may come before it
    assert last.startswith(f"seqtagger-train: error: {message}") and "Traceback" not in err


def test_every_logger_config_runs(tiny_ner_dir: Path, tmp_path: Path) -> None:
    """csv alone and tensorboard + csv: only TensorBoard takes the final metrics with hparams."""
    for logger in ("csv", "many_loggers"):
        overrides = [*tiny_ner_overrides(tiny_ner_dir), "trainer.max_epochs=1", f"logger={logger}"]
        overrides.append("tags=[tiny,ner]")
        metrics = train(compose_train(overrides, tmp_path / logger))
        assert "test/f1" in metrics
        assert list((tmp_path / logger / "csv").rglob("metrics.csv")), logger
        (hparams,) = (tmp_path / logger / "csv").rglob("hparams.yaml")
        assert "tags: tiny,ner" in hparams.read_text()  # the run's tags are recorded


def run_main(args: list[str], tmp_path: Path, monkeypatch, capsys) -> tuple[int, str]:
    """``seqtagger-train ARGS`` in-process: its exit code and stderr."""
    from seqtagger.train import main

    args = [*args, f"hydra.run.dir={tmp_path / 'run'}", "trainer.accelerator=cpu"]
    monkeypatch.setattr("sys.argv", ["seqtagger-train", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code, capsys.readouterr().err


def test_train_false_tests_the_given_checkpoint(
    tiny_run: Path, tiny_checkpoint: Path, tiny_ner_dir: Path, tmp_path: Path
) -> None:
    """Issue 7.1: ``train=false ckpt_path=X`` scores X, not random weights."""
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
    """Issue 7.1: no run may write untrained scores to metrics.json."""
    code, err = run_main(
        [*tiny_ner_overrides(tiny_ner_dir), *overrides], tmp_path, monkeypatch, capsys
    )
    assert code == 2 and f"seqtagger-train: error: {message}" in err
    assert "Traceback" not in err
    assert not list(tmp_path.rglob("metrics.json"))


def test_checkpoint_loads_without_its_vectors_file(tiny_ner_dir: Path, tmp_path: Path) -> None:
    """Issue 7.4: the weights are in the checkpoint; loading or resuming never reads the
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
    """Issue 7.6: ``val/acc_best`` and ``val/f1_best`` travel in the checkpoint, and
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


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["data.file_scheme=plain", "data.train_scheme=plain"],
            "callbacks.model_checkpoint.monitor=val/f1: data.train_scheme=plain has no spans",
        ),
        (
            ["trainer.limit_val_batches=0"],
            "callbacks.model_checkpoint.monitor=val/f1: trainer.limit_val_batches=0 turns "
            "validation off",
        ),
        (
            ["data.headline=acc", "trainer.limit_val_batches=0", *NO_MONITORS],
            "model.scheduler (ReduceLROnPlateau)=val/acc: trainer.limit_val_batches=0",
        ),
    ],
)
def test_a_metric_never_logged_is_refused_at_start_up(
    overrides: list[str], message: str, tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """Issue 7.10: refused before training, not after a whole epoch."""
    args = [*tiny_ner_overrides(tiny_ner_dir), *overrides]
    code, err = run_main(args, tmp_path, monkeypatch, capsys)
    assert code == 2 and f"seqtagger-train: error: {message}" in err
    assert not list(tmp_path.rglob("*.ckpt"))


def test_resuming_from_a_bad_checkpoint_is_one_message(
    tiny_checkpoint: Path, tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """Issue 7.11: a text file, a truncated last.ckpt (ckpt_path=auto) and a changed model
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
            f"ckpt_path={tiny_checkpoint}: the checkpoint's weights do not fit this model "
            "(model.encoder.hidden_size=32 in the checkpoint, 48 here)",
        ),
    ]
    for overrides, message in cases:
        args = [*tiny_ner_overrides(tiny_ner_dir), "trainer.max_epochs=4", *overrides]
        code, err = run_main(args, tmp_path, monkeypatch, capsys)
        assert code == 2 and f"seqtagger-train: error: {message}" in err, err
        assert "Traceback" not in err


def test_one_cycle_resume_with_more_epochs_says_the_schedule_is_fixed(
    tiny_ner_dir: Path, tmp_path: Path
) -> None:
    """Issue 7.12: not "Tried to step 4 times" in the middle of the run."""
    base = [*tiny_ner_overrides(tiny_ner_dir, "transformer"), "trainer.limit_train_batches=3"]
    base += ["trainer.limit_val_batches=1", "test=false"]
    train(compose_train([*base, "trainer.max_epochs=1"], tmp_path))
    resumed = compose_train([*base, "trainer.max_epochs=2", "ckpt_path=auto"], tmp_path)
    with pytest.raises(ConfigError, match="fixed by its first run at 3 steps"):
        train(resumed)


def test_one_cycle_without_a_run_length_is_a_config_error(
    tiny_ner_dir: Path, tmp_path: Path
) -> None:
    """Issue 7.12: ``max_epochs=-1`` with ``max_time`` has no step count for the schedule."""
    overrides = [*tiny_ner_overrides(tiny_ner_dir, "transformer"), "trainer.max_epochs=-1"]
    overrides += ["+trainer.max_time=00:00:01:00"]
    with pytest.raises(ConfigError, match=r"model\.scheduler\.total_steps=auto needs a run of"):
        train(compose_train(overrides, tmp_path))


def test_label_smoothing_out_of_range_is_one_message(
    tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """Issue 7.15: checked when the model is built, naming the key."""
    args = [*tiny_ner_overrides(tiny_ner_dir), "model.label_smoothing=1.5"]
    code, err = run_main(args, tmp_path, monkeypatch, capsys)
    assert code == 2 and "seqtagger-train: error: model.label_smoothing=1.5: expected" in err


def test_train_scores_come_from_every_kth_batch(
    tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """``model.train_scores_every=3``: batches 0, 3, 6 of 7 are decoded and scored, every batch
    counts in the loss; 0 is refused naming the key."""
    scored: list[tuple[str, bool]] = []
    steps: list[int] = []
    update, step = TaggerModule._update_metrics, TaggerModule.training_step
    monkeypatch.setattr(
        TaggerModule,
        "_update_metrics",
        lambda self, stage, loss, pred_ids, batch: (
            scored.append((stage, pred_ids is not None)),
            update(self, stage, loss, pred_ids, batch),
        ),
    )
    monkeypatch.setattr(
        TaggerModule,
        "training_step",
        lambda self, batch, i: (steps.append(i), step(self, batch, i))[1],
    )
    overrides = [*tiny_ner_overrides(tiny_ner_dir), *NO_MONITORS, "trainer.max_epochs=1"]
    overrides += [
        "trainer.limit_train_batches=7",
        "data.batch_size=8",
        "model.train_scores_every=3",
    ]
    metrics = train(compose_train(overrides, tmp_path))
    assert steps == list(range(7))
    assert [decoded for stage, decoded in scored if stage == "train"] == [1, 0, 0, 1, 0, 0, 1]
    assert "train/acc" in metrics and "train/loss" in metrics
    code, err = run_main([*overrides, "model.train_scores_every=0"], tmp_path, monkeypatch, capsys)
    assert code == 2 and "error: model.train_scores_every=0: expected an integer >= 1" in err
