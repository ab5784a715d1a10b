"""Calibration: ECE and its bins, the temperature fit (lower dev NLL, the same tags), the fitted
temperatures stored in the checkpoint (after training, and by ``seqtagger calibrate``), older
checkpoints at temperature 1, and what ``seqtagger-eval`` reports of it."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from seqtagger import cli
from seqtagger.calibration.bins import expected_calibration_error, reliability
from seqtagger.calibration.store import calibrate_checkpoint, same_weights
from seqtagger.calibration.temperature import fit_temperature, gold_nll, padded_batches
from seqtagger.checkpoint import CHECKPOINT_KEY, load_checkpoint
from seqtagger.data.info import stored_temperatures
from seqtagger.eval import evaluate
from seqtagger.evaluation.sets import held_out_from_file
from seqtagger.inference import Predictor
from seqtagger.models.heads import LinearHead
from seqtagger.models.trained import TrainedTagger
from seqtagger.train import train
from tests.documents import read_documents
from tests.helpers import compose_config, compose_train, tiny_ner_overrides
from tests.test_crf import BIOES, random_head
from tests.test_tasks import layer_overrides, layers_dir  # noqa: F401 (a fixture)

STORED = Path(__file__).resolve().parent / "checkpoints"


# ----- ECE and its bins -----
def test_a_perfectly_calibrated_set_has_no_calibration_error() -> None:
    confidences = [0.8] * 10 + [0.3] * 10
    correct = [True] * 8 + [False] * 2 + [True] * 3 + [False] * 7
    result = reliability(confidences, correct)
    assert result.ece == pytest.approx(0.0, abs=1e-12)
    assert result.count == 20 and result.accuracy == pytest.approx(0.55)
    filled = [b for b in result.bins if b.count]
    assert [(b.count, b.confidence, b.accuracy) for b in filled] == [
        (10, pytest.approx(0.3), pytest.approx(0.3)),
        (10, pytest.approx(0.8), pytest.approx(0.8)),
    ]


def test_ece_of_known_cases() -> None:
    assert expected_calibration_error([0.9] * 10, [True] * 5 + [False] * 5) == pytest.approx(0.4)
    # |1 - 0.95| on four, |0.75 - 0.25| on four: (4 * 0.05 + 4 * 0.5) / 8
    confidences = [0.95] * 4 + [0.25] * 4
    correct = [True] * 4 + [True, True, True, False]
    assert expected_calibration_error(confidences, correct) == pytest.approx(0.275)
    # one bin: the gap of the means, |0.6 - 0.5|
    assert expected_calibration_error([0.2, 1.0], [True, False], bins=1) == pytest.approx(0.1)


def test_bins_are_equal_width_and_closed_on_the_right() -> None:
    result = reliability([0.0, 1 / 15, 0.07, 1.0], [True, True, False, True])
    assert len(result.bins) == 15
    assert result.bins[0].lower == 0.0 and result.bins[-1].upper == 1.0
    assert [b.count for b in result.bins][:2] == [2, 1]  # 0 and 1/15 in the first bin
    assert result.bins[-1].count == 1
    assert result.bins[5].confidence is None and result.bins[5].accuracy is None


def test_ece_refuses_what_is_not_a_set_of_confidences() -> None:
    assert reliability([], []).ece is None
    with pytest.raises(ValueError, match="2 confidences but 1 correct flags"):
        reliability([0.5, 0.5], [True])
    with pytest.raises(ValueError, match=r"confidences must lie in \[0, 1\]"):
        reliability([1.5], [True])
    with pytest.raises(ValueError, match=r"confidences must lie in \[0, 1\]"):
        reliability([float("nan")], [True])
    rounded = reliability([1.0000004, -1e-7], [True, False])  # float32 marginals' rounding
    assert (rounded.bins[-1].count, rounded.bins[0].count) == (1, 1)
    with pytest.raises(ValueError, match="bins=0"):
        reliability([0.5], [True], bins=0)


# ----- the temperature fit -----
def sampled_gold(probabilities: torch.Tensor, mask: torch.Tensor, seed: int) -> list[list[int]]:
    """Gold ids drawn from each token's probabilities ``(N, L, C)``."""
    generator = torch.Generator().manual_seed(seed)
    drawn = torch.multinomial(probabilities[mask], 1, generator=generator).squeeze(1)
    ids, rows = drawn.tolist(), []
    for length in mask.sum(1).tolist():
        rows.append(ids[:length])
        ids = ids[length:]
    return rows


def over_confident(head, logits: torch.Tensor, mask: torch.Tensor, scale: float):
    """Per-sentence logits ``scale`` times sharper than the model whose marginals drew the gold."""
    gold = sampled_gold(head.marginals(logits, mask), mask, seed=3)
    sentences = [logits[i, :n] * scale for i, n in enumerate(mask.sum(1).tolist())]
    return padded_batches(sentences, gold, size=16)


@pytest.mark.parametrize("kind", ["linear", "crf"])
def test_the_fit_undoes_over_confidence_and_lowers_the_nll(kind: str) -> None:
    """Gold drawn from a model's probabilities, scored by that model made 3 times sharper: the
    fitted temperature is near 3 and the NLL falls to the drawing model's."""
    torch.manual_seed(0)
    lengths = torch.randint(1, 12, (300,))
    mask = torch.arange(int(lengths.max())) < lengths[:, None]
    if kind == "crf":
        head = random_head(BIOES, "bioes", seed=1)
        scaled = random_head(BIOES, "bioes", seed=1)
        with torch.no_grad():
            for parameter in (scaled.transitions, scaled.start, scaled.end):
                parameter.mul_(3.0)
    else:
        head = scaled = LinearHead(4, len(BIOES))
    logits = torch.randn(len(lengths), mask.shape[1], len(BIOES)) * 1.5
    batches = over_confident(head, logits, mask, 3.0)
    fit = fit_temperature(scaled, batches, "ner")
    assert fit.temperature == pytest.approx(3.0, rel=0.15)
    assert fit.nll_after < fit.nll_before
    assert fit.nll_after == pytest.approx(gold_nll(scaled, batches, 3.0), rel=1e-3)
    assert fit.tokens == int(lengths.sum()) and not fit.at_bound


def test_gold_left_out_is_not_fitted() -> None:
    head = LinearHead(4, 3)
    logits = [torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]])]
    batches = padded_batches(logits, [[0, -100]])
    assert batches.tokens == 1
    expected = -math.log(math.exp(2.0) / (math.exp(2.0) + 2))
    assert gold_nll(head, batches, 1.0) == pytest.approx(expected)
    assert fit_temperature(head, padded_batches(logits, [[-100, -100]]), "x").temperature == 1.0


# ----- a checkpoint's temperatures -----
@pytest.fixture
def over_confident_checkpoint(tiny_checkpoint: Path, tiny_ner_dir: Path, tmp_path: Path) -> Path:
    """``tiny_checkpoint`` with its head's scores made sharper, so that its dev temperature is
    about 5: an over-confident model whose tags are the tiny one's (argmax of scaled scores)."""
    held_out = held_out_from_file("dev", tiny_ner_dir / "dev.txt", "iob2")
    plain = tmp_path / "plain.ckpt"
    shutil.copy(tiny_checkpoint, plain)
    fitted = calibrate_checkpoint(plain, held_out, device="cpu").fits["tags"].temperature
    checkpoint = load_checkpoint(plain)
    for name in ("tagger.heads.tags.linear.weight", "tagger.heads.tags.linear.bias"):
        checkpoint["state_dict"][name] = checkpoint["state_dict"][name] * (5.0 / fitted)
    checkpoint[CHECKPOINT_KEY]["calibration"] = None
    path = tmp_path / "sharp.ckpt"
    torch.save(checkpoint, path)
    return path


def test_calibrating_a_checkpoint_lowers_dev_nll_and_never_changes_a_tag(
    over_confident_checkpoint: Path, tiny_ner_dir: Path
) -> None:
    path = over_confident_checkpoint
    sentences, documents = read_documents(tiny_ner_dir / "dev.txt")
    before = Predictor.from_checkpoint(path, device="cpu")
    tags, scored = before.predict(sentences, documents), before.predict_scored(sentences)
    weights = load_checkpoint(path)["state_dict"]
    held_out = held_out_from_file("dev", tiny_ner_dir / "dev.txt", "iob2")
    result = calibrate_checkpoint(path, held_out, device="cpu")
    fit = result.fits["tags"]
    assert fit.temperature == pytest.approx(5.0, rel=0.05)
    assert fit.nll_after < fit.nll_before
    token = result.reliability["tags"]
    assert token.after["token"].ece < token.before["token"].ece
    after = Predictor.from_checkpoint(path, device="cpu")
    assert after.predict(sentences, documents) == tags
    hot = Predictor.from_checkpoint(path, device="cpu", temperature=fit.temperature)
    rescored = hot.predict_scored(sentences)
    assert [t for t, _ in rescored] == [t for t, _ in scored]
    assert [s for _, s in rescored] != [s for _, s in scored]
    for name, weight in load_checkpoint(path)["state_dict"].items():
        assert torch.equal(weight, weights[name]), name


def test_the_temperature_survives_saving_and_loading(
    over_confident_checkpoint: Path, tiny_ner_dir: Path, tmp_path: Path
) -> None:
    """Written through a link (``best.ckpt``) into the file it names, mode kept."""
    target = over_confident_checkpoint
    target.chmod(0o640)
    link = tmp_path / "best.ckpt"
    link.symlink_to(target.name)
    held_out = held_out_from_file("dev", tiny_ner_dir / "dev.txt", "iob2")
    fitted = calibrate_checkpoint(link, held_out, device="cpu").fits["tags"].temperature
    assert link.is_symlink() and (target.stat().st_mode & 0o777) == 0o640
    assert not list(tmp_path.glob(".*.tmp"))
    record = load_checkpoint(link)[CHECKPOINT_KEY]["calibration"]
    assert record["temperature"] == {"tags": fitted} and record["set"] == "dev"
    assert record["nll_after"]["tags"] < record["nll_before"]["tags"]
    assert record["tokens"]["tags"] > 0 and record["excluded"] == {"tags": 0}
    assert stored_temperatures(TrainedTagger.from_checkpoint(link).data_info) == {"tags": fitted}


@pytest.mark.parametrize("folder", ["format1", "format2", "format3"])
def test_an_older_checkpoint_reads_as_temperature_1(folder: str) -> None:
    stored = torch.load(STORED / folder / "crf" / "last.ckpt", weights_only=True)
    assert "calibration" not in stored[CHECKPOINT_KEY]
    checkpoint = load_checkpoint(STORED / folder / "crf" / "last.ckpt")
    assert checkpoint[CHECKPOINT_KEY]["calibration"] is None
    assert stored_temperatures(checkpoint[CHECKPOINT_KEY]) == {"tags": 1.0}


def test_stored_temperatures_of_a_record() -> None:
    tasks = [{"name": "upos"}, {"name": "xpos"}]
    assert stored_temperatures({"tasks": tasks}) == {"upos": 1.0, "xpos": 1.0}
    assert stored_temperatures({"context": 0}) == {}
    record = {"temperature": {"upos": 1.5}}
    assert stored_temperatures({"tasks": tasks, "calibration": record}) == {
        "upos": 1.5,
        "xpos": 1.0,
    }


# ----- at the end of training -----
def test_training_calibrates_the_best_checkpoint_and_its_twin(
    tiny_run: Path, tiny_ner_dir: Path, tmp_path: Path
) -> None:
    """The best checkpoint holds a dev temperature; ``last.ckpt`` too when it holds the same
    weights (a one-epoch run), not otherwise; ``calibrate=false`` stores none."""
    best = tiny_run / "checkpoints" / "best.ckpt"
    assert load_checkpoint(best)[CHECKPOINT_KEY]["calibration"]["set"] == "dev"
    one_epoch = tmp_path / "one"
    train(compose_train([*tiny_ner_overrides(tiny_ner_dir), "trainer.max_epochs=1"], one_epoch))
    checkpoints = one_epoch / "checkpoints"
    assert same_weights(checkpoints / "best.ckpt", checkpoints / "last.ckpt")
    records = [load_checkpoint(checkpoints / n)[CHECKPOINT_KEY] for n in ("best.ckpt", "last.ckpt")]
    assert records[0]["calibration"] == records[1]["calibration"] is not None
    off = tmp_path / "off"
    overrides = [*tiny_ner_overrides(tiny_ner_dir), "trainer.max_epochs=1", "calibrate=false"]
    train(compose_train(overrides, off))
    assert load_checkpoint(off / "checkpoints" / "best.ckpt")[CHECKPOINT_KEY]["calibration"] is None


# ----- seqtagger calibrate -----
@pytest.fixture
def run_copy(tiny_run: Path, tmp_path: Path) -> Path:
    """The tiny run's checkpoints and config.yaml, in a folder of this test's own."""
    copy = tmp_path / "run"
    shutil.copytree(tiny_run / "checkpoints", copy / "checkpoints", symlinks=True)
    shutil.copy(tiny_run / "config.yaml", copy / "config.yaml")
    return copy


def test_seqtagger_calibrate_fits_on_the_runs_dev_set(run_copy: Path, capsys) -> None:
    best = run_copy / "checkpoints" / "best.ckpt"
    checkpoint = load_checkpoint(best)
    checkpoint[CHECKPOINT_KEY]["calibration"] = None
    torch.save(checkpoint, best.resolve())
    assert cli.main(["calibrate", str(best)]) == 0
    err = capsys.readouterr().err
    assert f"seqtagger-calibrate: wrote the temperatures into {best.resolve()}\n" in err
    assert "tags: temperature " in err and "dev NLL " in err and "span ECE " in err
    record = load_checkpoint(best)[CHECKPOINT_KEY]["calibration"]
    assert record["set"] == "dev" and record["temperature"]["tags"] > 0
    assert best.is_symlink()


def test_seqtagger_calibrate_on_a_file(run_copy: Path, tiny_ner_dir: Path, capsys) -> None:
    best = run_copy / "checkpoints" / "best.ckpt"
    args = ["calibrate", str(best), "--set", str(tiny_ner_dir / "test.txt"), "--device", "cpu"]
    assert cli.main(args) == 0
    assert "tags: temperature " in capsys.readouterr().err
    assert load_checkpoint(best)[CHECKPOINT_KEY]["calibration"]["set"] == "test.txt"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.ckpt"], "CKPT=missing.ckpt: no such file"),
        (["{ckpt}", "--set", "nope.txt"], "--set nope.txt: no such file (give `dev` or a file"),
        (["{lone}"], "CKPT {lone}: no training config.yaml in"),
        (
            ["{ckpt}", "--set", "{dev}", "--scheme", "plain"],
            "--scheme plain: the model predicts chunk tags (NER), which cannot be fitted on "
            "plain tags; give --set a file tagged for this model, with --scheme iob1 or iob2 or "
            "bioes",
        ),
        (["{ckpt}", "--scheme", "iob2"], "--scheme iob2: only for --set FILE"),
    ],
)
def test_bad_input_is_one_message_and_exit_code_2(
    args: list[str], message: str, run_copy: Path, tiny_ner_dir: Path, tmp_path: Path, capsys
) -> None:
    best = run_copy / "checkpoints" / "best.ckpt"
    lone = tmp_path / "lone" / "tagger.ckpt"
    lone.parent.mkdir()
    shutil.copy(best, lone)
    before = best.resolve().read_bytes()
    names = {"ckpt": best, "lone": lone, "dev": tiny_ner_dir / "dev.txt"}
    given = [arg.format(**names) for arg in args]
    assert cli.main(["calibrate", *given]) == 2
    err = capsys.readouterr().err
    assert err.startswith("seqtagger-calibrate: error: ") and err.count("\n") == 1, err
    assert message.format(**names) in err
    assert best.resolve().read_bytes() == before


def test_a_bad_option_is_refused_by_the_parser(capsys) -> None:
    assert cli.main(["calibrate", "x.ckpt", "--batch-size", "0"]) == 2
    assert "--batch-size: '0': expected an integer >= 1" in capsys.readouterr().err
    assert cli.main(["calibrate", "x.ckpt", "--set", "dev.txt", "--scheme", "bio"]) == 2
    assert "--scheme: invalid choice: 'bio'" in capsys.readouterr().err


# ----- seqtagger-eval -----
def test_eval_reports_ece_before_and_after_and_draws_the_diagram(
    over_confident_checkpoint: Path, tiny_ner_dir: Path, tmp_path: Path
) -> None:
    path = over_confident_checkpoint
    held_out = held_out_from_file("dev", tiny_ner_dir / "dev.txt", "iob2")
    temperature = calibrate_checkpoint(path, held_out, device="cpu").fits["tags"].temperature
    sets = [f"+sets.dev={tiny_ner_dir / 'dev.txt'}", f"+sets.test={tiny_ner_dir / 'test.txt'}"]
    cfg = compose_config("eval", [f"ckpt_path={path}", "device=cpu", *sets], tmp_path / "out")
    results = evaluate(cfg)
    for name in ("dev", "test"):
        metrics = results[name]
        assert metrics["temperature"] == pytest.approx(temperature)
        assert 0 <= metrics["ece"] <= 1 and 0 <= metrics["ece/calibrated"] <= 1
        assert "span/ece" in metrics and "span/ece/calibrated" in metrics
        folder = tmp_path / "out" / name
        data = json.loads((folder / "calibration.json").read_text())
        assert data["bins"] == 15 and set(data) >= {"token", "span", "temperature"}
        assert data["token"]["before"]["ece"] == pytest.approx(metrics["ece"])
        assert data["token"]["after"]["ece"] == pytest.approx(metrics["ece/calibrated"])
        assert sum(b["count"] for b in data["token"]["before"]["bins"]) == metrics["tokens"]
        assert (folder / "reliability.png").stat().st_size > 1000
        assert (
            "## calibration (expected calibration error, 15 equal-width bins)"
            in (folder / "report.txt").read_text()
        )
    assert results["dev"]["ece/calibrated"] < results["dev"]["ece"]
    summary = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert summary["dev"]["ece"] == pytest.approx(results["dev"]["ece"])


def test_eval_without_calibration_writes_no_calibration(
    tiny_checkpoint: Path, tiny_ner_dir: Path, tmp_path: Path
) -> None:
    overrides = [f"ckpt_path={tiny_checkpoint}", "device=cpu", "calibration=false"]
    cfg = compose_config("eval", [*overrides, f"+sets.dev={tiny_ner_dir / 'dev.txt'}"], tmp_path)
    assert "ece" not in evaluate(cfg)["dev"]
    assert not (tmp_path / "dev" / "calibration.json").exists()
    assert "## calibration" not in (tmp_path / "dev" / "report.txt").read_text()


def test_a_model_of_two_tasks_gets_a_temperature_per_task(
    layers_dir: Path,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    """A CRF task (spans) and a linear one, fitted at the end of training and reported by eval
    under each task's name."""
    train(compose_train([*layer_overrides(layers_dir), "trainer.max_epochs=2"], tmp_path / "run"))
    best = tmp_path / "run" / "checkpoints" / "best.ckpt"
    record = load_checkpoint(best)[CHECKPOINT_KEY]["calibration"]
    assert set(record["temperature"]) == {"pos", "ner"}
    assert all(record["nll_after"][t] <= record["nll_before"][t] for t in ("pos", "ner"))
    cfg = compose_config("eval", [f"ckpt_path={best}", "device=cpu"], tmp_path / "eval")
    test = evaluate(cfg)["test"]
    assert test["ner/temperature"] == pytest.approx(record["temperature"]["ner"])
    assert {"pos/ece", "pos/ece/calibrated", "ner/span/ece", "ner/span/ece/calibrated"} <= set(test)
    assert "pos/span/ece" not in test
    for task in ("pos", "ner"):
        assert (tmp_path / "eval" / "test" / task / "reliability.png").is_file()


def test_the_calibration_report_tool_measures_dev_and_test(run_copy: Path, tmp_path: Path) -> None:
    """``python -m tools.calibration_report``: the stored temperature, ECE before and after on
    the run's dev and test sets, written as JSON without this machine's folders."""
    from tools import calibration_report

    best = run_copy / "checkpoints" / "best.ckpt"
    out = tmp_path / "report.json"
    assert calibration_report.main([str(best), "--out", str(out), "--device", "cpu"]) == 0
    data = json.loads(out.read_text())
    stored = load_checkpoint(best)[CHECKPOINT_KEY]["calibration"]
    assert data["temperature"] == stored["temperature"]
    assert data["fit"]["source"] == "stored in the checkpoint"
    assert data["checkpoint"] == "run/checkpoints/best.ckpt"
    assert set(data["ece"]) == {"dev", "test"}
    for name in ("dev", "test"):
        levels = data["ece"][name]["tags"]
        assert set(levels) == {"token", "span"} and set(levels["token"]) == {"before", "after"}
        assert data["sets"][name]["tags"]["token"]["before"]["count"] > 0
    assert str(tmp_path) not in out.read_text()
    assert data["command"].startswith(
        "python -m tools.calibration_report run/checkpoints/best.ckpt"
    )


def test_the_predictor_scores_at_the_stored_temperature_unless_told(tiny_checkpoint: Path):
    from seqtagger.inference import Predictor
    from seqtagger.models.trained import TrainedTagger

    model = TrainedTagger.from_checkpoint(tiny_checkpoint)
    task = model.tasks[0].name
    model.data_info["calibration"] = None  # as a checkpoint without a fitted temperature
    assert Predictor(model, device="cpu").temperature == 1.0
    model.data_info["calibration"] = {"temperature": {task: 2.5}}
    calibrated = Predictor(model, device="cpu")
    assert calibrated.temperature == 2.5
    assert Predictor(model, device="cpu", temperature=1.0).temperature == 1.0
    ((tags, scores),) = calibrated.predict_scored([["Anna", "Smith", "visited", "Paris"]])
    ((raw_tags, raw_scores),) = Predictor(model, device="cpu", temperature=1.0).predict_scored(
        [["Anna", "Smith", "visited", "Paris"]]
    )
    assert tags == raw_tags and scores != raw_scores
