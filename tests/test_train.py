"""In-process training tests on the real configs (lightning-hydra-template style)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from seqtagger.lightning_module import TaggerModule, load_checkpoint
from seqtagger.train import train
from tests.helpers import compose_train, run_hydra_main, tiny_ner_overrides


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

    checkpoint = load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")  # weights_only=True
    assert checkpoint["seqtagger"]["headline"] == headline
    assert checkpoint["seqtagger"]["vocabs"]["labels"]["itos"]


def test_resume_from_last_checkpoint_matches_uninterrupted(
    tiny_ner_dir: Path, tmp_path: Path
) -> None:
    base = [*tiny_ner_overrides(tiny_ner_dir), "callbacks.early_stopping=null", "seed=3"]
    straight = train(compose_train([*base, "trainer.max_epochs=2"], tmp_path / "straight"))

    resumed_dir = tmp_path / "resumed"
    first = train(compose_train([*base, "trainer.max_epochs=1", "test=false"], resumed_dir))
    assert "val/f1" in first
    resumed = train(compose_train([*base, "trainer.max_epochs=2", "ckpt_path=auto"], resumed_dir))

    for name in ("val/f1", "val/loss", "test/f1", "test/acc", "test/loss"):
        assert resumed[name] == pytest.approx(straight[name], abs=1e-6), name
    last_straight = load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.ckpt")
    last_resumed = load_checkpoint(resumed_dir / "checkpoints" / "last.ckpt")
    assert last_resumed["epoch"] == last_straight["epoch"] == 1
    for key, weight in last_straight["state_dict"].items():
        torch.testing.assert_close(last_resumed["state_dict"][key], weight, msg=key)


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
        metrics = train(compose_train(overrides, tmp_path / logger))
        assert "test/f1" in metrics
        assert list((tmp_path / logger / "csv").rglob("metrics.csv")), logger
