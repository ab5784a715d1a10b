"""In-process training tests on the real configs (lightning-hydra-template style)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
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


def run_main(args: list[str], tmp_path: Path, monkeypatch, capsys) -> tuple[int, str]:
    """``seqtagger-train ARGS`` in-process: its exit code and stderr."""
    from seqtagger.train import main

    args = [*args, f"hydra.run.dir={tmp_path / 'run'}", "trainer.accelerator=cpu"]
    monkeypatch.setattr("sys.argv", ["seqtagger-train", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code, capsys.readouterr().err


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
        == load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")["seqtagger"]["tasks"][0][
            "labels"
        ]["itos"]
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
    assert checkpoint["seqtagger"]["tasks"][0]["labels"]["itos"]


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
    """These exited 1 through Hydra's wrapper, gave tracebacks, named the
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


def tensorboard_hparams(folder: Path) -> dict[str, object]:
    """The hyperparameters of the hparams session in the TensorBoard event files under
    ``folder`` (the HPARAMS tab's columns)."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    for events in folder.rglob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(events))
        accumulator.Reload()
        try:
            content = accumulator.PluginTagToContent("hparams")["_hparams_/session_start_info"]
        except KeyError:  # no hparams session in this file
            continue
        hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
        return {name: getattr(value, value.WhichOneof("kind")) for name, value in hparams.items()}
    return {}


def test_hparams_are_what_runs_are_compared_by(tiny_ner_dir: Path, tmp_path: Path) -> None:
    """The HPARAMS columns: the recipe's config-group choices and settings, not ``_target_``
    classes, folders, file names or how the run executes."""
    overrides = [*tiny_ner_overrides(tiny_ner_dir), "model/head=crf", "trainer.max_epochs=1"]
    overrides += ["trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "test=false"]
    train(compose_train(overrides, tmp_path))
    hparams = tensorboard_hparams(tmp_path / "tensorboard")
    assert {
        "data": "files",
        "model": "bilstm",
        "model/head": "crf",
        "experiment": "null",
    }.items() <= hparams.items()
    assert hparams["model/optimizer/lr"] == 0.002 and hparams["model/encoder/hidden_size"] == 32
    assert hparams["data/batch_size"] == 16 and hparams["trainer/max_epochs"] == 1
    assert hparams["seed"] == 42 and hparams["data/headline"] == "f1"
    plumbing = [name for name in hparams if "_target_" in name or "_partial_" in name]
    plumbing += [name for name in hparams if name.split("/")[-1] in ("data_dir", "cache_dir")]
    plumbing += [name for name, value in hparams.items() if str(tmp_path.parent) in str(value)]
    assert not plumbing and not {"trainer/default_root_dir", "trainer/plugins"} & set(hparams)
    assert len(hparams) < 60


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
            "model.scheduler_monitor=val/acc: trainer.limit_val_batches=0",
        ),
    ],
)
def test_a_metric_never_logged_is_refused_at_start_up(
    overrides: list[str], message: str, tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """Refused before training, not after a whole epoch."""
    args = [*tiny_ner_overrides(tiny_ner_dir), *overrides]
    code, err = run_main(args, tmp_path, monkeypatch, capsys)
    assert code == 2 and f"seqtagger-train: error: {message}" in err
    assert not list(tmp_path.rglob("*.ckpt"))


def test_one_cycle_without_a_run_length_is_a_config_error(
    tiny_ner_dir: Path, tmp_path: Path
) -> None:
    """``max_epochs=-1`` with ``max_time`` has no step count for the schedule."""
    overrides = [*tiny_ner_overrides(tiny_ner_dir, "transformer"), "trainer.max_epochs=-1"]
    overrides += ["+trainer.max_time=00:00:01:00"]
    with pytest.raises(ConfigError, match=r"model\.scheduler\.total_steps=auto needs a run of"):
        train(compose_train(overrides, tmp_path))


def test_bf16_lstm_on_a_cpu_without_its_kernel_is_a_config_error(
    tiny_ner_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AVX2-only CPUs have no oneDNN bf16 LSTM: refused at start-up naming the key, not by
    oneDNN's "could not create a primitive descriptor" at the first step."""
    monkeypatch.setattr("seqtagger.training.startup.cpu_runs_bf16_lstm", lambda: False)
    overrides = [*tiny_ner_overrides(tiny_ner_dir), "trainer.precision=bf16-mixed"]
    with pytest.raises(ConfigError, match=r"trainer\.precision=bf16-mixed on this CPU"):
        train(compose_train(overrides, tmp_path))


def test_label_smoothing_out_of_range_is_one_message(
    tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """Checked when the model is built, naming the key."""
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
        lambda self, stage, step, batch: (
            scored.append((stage, step.predicted is not None)),
            update(self, stage, step, batch),
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
