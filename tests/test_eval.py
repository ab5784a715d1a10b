"""seqtagger-eval: several sets in several formats, train == eval, re-scoring, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from omegaconf import DictConfig

from seqtagger.errors import CorpusFormatError
from seqtagger.eval import evaluate, main
from seqtagger.metrics.conlleval import evaluate as conlleval_evaluate
from seqtagger.metrics.conlleval import read_columns
from tests.helpers import (
    REPO_ROOT,
    compose_config,
    compose_train,
    run_hydra_main,
    tiny_ner_overrides,
)


def compose_eval(overrides: list[str], output_dir: Path) -> DictConfig:
    return compose_config("eval", [*overrides, "device=cpu"], output_dir)


def conll_to_jsonl(conll: Path, jsonl: Path) -> Path:
    """The same sentences as JSON Lines (another format for the same gold)."""
    lines, tokens, tags = [], [], []
    for line in [*conll.read_text().splitlines(), ""]:
        if line.startswith("-DOCSTART-"):
            continue
        if not line.strip():
            if tokens:
                lines.append(json.dumps({"tokens": tokens, "tags": tags}))
            tokens, tags = [], []
            continue
        token, _, tag = line.split()
        tokens.append(token)
        tags.append(tag)
    jsonl.write_text("\n".join(lines) + "\n")
    return jsonl


def test_eval_equals_the_training_runs_test_numbers(tiny_run: Path, tmp_path: Path) -> None:
    """lightning-hydra-template's best test: train, then evaluate the saved checkpoint."""
    trained = json.loads((tiny_run / "metrics.json").read_text())
    best = sorted((tiny_run / "checkpoints").glob("epoch_*.ckpt"))[-1]
    results = evaluate(compose_eval([f"ckpt_path={best}"], tmp_path))  # default: run's test split
    for name in ("acc", "precision", "recall", "f1", "strict/f1"):
        assert results["test"][name] == pytest.approx(trained[f"test/{name}"], abs=1e-6), name


def test_two_sets_in_two_formats(tiny_checkpoint: Path, tiny_ner_dir: Path, tmp_path: Path) -> None:
    jsonl = conll_to_jsonl(tiny_ner_dir / "test.txt", tmp_path / "test.jsonl")
    cfg = compose_eval(
        [
            f"ckpt_path={tiny_checkpoint}",
            f"+sets.conll={tiny_ner_dir / 'dev.txt'}",
            f"+sets.json={jsonl}",
        ],
        tmp_path / "out",
    )
    results = evaluate(cfg)
    assert set(results) == {"conll", "json"}
    for name in ("conll", "json"):
        folder = tmp_path / "out" / name
        for file in ("metrics.json", "report.txt", "confusion.csv", "confusion_normalized.csv"):
            assert (folder / file).is_file(), file
        assert (folder / "confusion.png").stat().st_size > 1000
        assert (folder / "per_type_f1.png").is_file()
        report = (folder / "report.txt").read_text()
        assert "processed" in report and "FB1:" in report and "precision" in report
        assert set(results[name]["per_type"]) <= {"PER", "LOC", "ORG"}
    summary = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert summary["json"]["sentences"] == 40


def test_prediction_file_rescores_to_the_reported_numbers(
    tiny_checkpoint: Path, tiny_ner_dir: Path, tmp_path: Path
) -> None:
    results = evaluate(
        compose_eval(
            [f"ckpt_path={tiny_checkpoint}", f"+sets.dev={tiny_ner_dir / 'dev.txt'}"], tmp_path
        )
    )
    rows = list(read_columns(tmp_path / "dev" / "predictions.conll"))
    assert sum(len(tokens) for tokens, _, _ in rows) == results["dev"]["tokens"]
    counts = conlleval_evaluate(((gold, pred) for _, gold, pred in rows), scheme="iob2")
    assert counts.f1() == pytest.approx(results["dev"]["f1"])
    assert counts.precision() == pytest.approx(results["dev"]["precision"])
    assert counts.accuracy == pytest.approx(results["dev"]["conlleval_accuracy"])


def test_unknown_gold_tags_are_scored_as_errors(tiny_checkpoint: Path, tmp_path: Path) -> None:
    gold = tmp_path / "odd.txt"
    gold.write_text("Anna X B-PER\nin X O\nMay X B-DATE\n. X O\n\n")
    results = evaluate(
        compose_eval([f"ckpt_path={tiny_checkpoint}", f"+sets.odd={gold}"], tmp_path / "o")
    )
    assert results["odd"]["unknown_tags"] == {"B-DATE": 1}
    assert results["odd"]["per_type"]["DATE"]["recall"] == 0.0
    assert "B-DATE" in (tmp_path / "o" / "odd" / "confusion.csv").read_text()


DATED = "Anna X B-PER\nmet X O\nBoris X B-PER\non X O\nMay X B-DATE\n5 X I-DATE\n. X O\n\n"


def test_map_to_o_runs_score_unknown_tags_as_o_and_eval_as_errors(
    tiny_ner_dir: Path, tmp_path: Path, caplog
) -> None:
    """With data.unknown_labels=map_to_o the run's test numbers read DATE (never trained on) as
    O; eval scores the real gold as errors and says so, and the same gold with DATE written as O
    scores exactly the run's numbers."""
    from seqtagger.train import train

    data = tmp_path / "data"
    data.mkdir()
    for name in ("train.txt", "dev.txt"):
        (data / name).write_text((tiny_ner_dir / name).read_text())
    test = (tiny_ner_dir / "test.txt").read_text() + DATED * 5
    (data / "test.txt").write_text(test)
    (data / "test_o.txt").write_text(re.sub(r"[BI]-DATE$", "O", test, flags=re.M))
    overrides = [*tiny_ner_overrides(data), "trainer.max_epochs=1", "data.unknown_labels=map_to_o"]
    train(compose_train(overrides, tmp_path / "run"))
    trained = json.loads((tmp_path / "run" / "metrics.json").read_text())

    ckpt = f"ckpt_path={tmp_path / 'run' / 'checkpoints' / 'last.ckpt'}"
    sets = [f"+sets.test={data / 'test.txt'}", f"+sets.o={data / 'test_o.txt'}"]
    with caplog.at_level("WARNING"):
        results = evaluate(compose_eval([ckpt, *sets], tmp_path / "eval"))
    assert "scored as errors (a training run with data.unknown_labels=map_to_o" in caplog.text
    assert results["test"]["unknown_tags"] == {"B-DATE": 5, "I-DATE": 5}
    assert results["test"]["per_type"]["DATE"]["support"] == 5
    assert results["test"]["acc"] <= results["o"]["acc"]
    for name in ("acc", "precision", "recall", "f1", "strict/f1"):
        assert results["o"][name] == pytest.approx(trained[f"test/{name}"], abs=1e-6), name


def test_tensorboard_holds_scalars_images_and_text(
    tiny_checkpoint: Path, tiny_ner_dir: Path, tmp_path: Path
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    evaluate(
        compose_eval(
            [f"ckpt_path={tiny_checkpoint}", f"+sets.dev={tiny_ner_dir / 'dev.txt'}"], tmp_path
        )
    )
    events = EventAccumulator(
        str(tmp_path / "tensorboard"), size_guidance={"images": 0, "tensors": 0}
    )
    events.Reload()
    tags = events.Tags()
    assert {"dev/acc", "dev/f1", "dev/precision"} <= set(tags["scalars"])
    assert {"dev/confusion", "dev/per_type_f1"} <= set(tags["images"])
    assert any(tag.startswith("dev/worst_sentences") for tag in tags["tensors"])


BAD_SET_FILES = {
    "absent": (None, "absent.txt does not exist"),
    "empty": ("", "empty.txt"),
    "short": ("a O\nb\n", "short.txt:2"),
}


@pytest.mark.parametrize("case", ["missing ckpt", "not a ckpt", *BAD_SET_FILES])
def test_bad_input_is_one_clear_message(
    case: str, tiny_checkpoint: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    ckpt, set_file = tiny_checkpoint, tmp_path / "good.txt"
    set_file.write_text("Anna X B-PER\n\n")
    if case == "missing ckpt":
        ckpt, message = tmp_path / "missing.ckpt", "no such file"
    elif case == "not a ckpt":
        ckpt, message = tmp_path / "bad.ckpt", "not a loadable checkpoint"
        ckpt.write_text("nope")
    else:
        content, message = BAD_SET_FILES[case]
        set_file = tmp_path / f"{case}.txt"
        if content is not None:
            set_file.write_text(content)
    args = [f"ckpt_path={ckpt}", f"hydra.run.dir={tmp_path / 'run'}", f"+sets.x={set_file}"]
    monkeypatch.setattr("sys.argv", ["seqtagger-eval", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("cuda", "device=cuda: this machine has 0 CUDA device(s)"),
        ("gpu", "device=gpu: expected auto, cpu, cuda or cuda:N"),
    ],
)
def test_unusable_device_is_one_message(
    device: str, message: str, tiny_checkpoint: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    """``device=cuda`` without a GPU ended in torch's AssertionError."""
    monkeypatch.setattr("torch.cuda.device_count", lambda: 0)  # any machine is GPU-less here
    args = [f"ckpt_path={tiny_checkpoint}", f"device={device}", f"hydra.run.dir={tmp_path}"]
    code, err = run_hydra_main(main, ["seqtagger-eval", *args], monkeypatch, capsys)
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(f"seqtagger-eval: error: {message}")


IOB1_SET = "Anna X I-PER\nBerg X I-PER\nsaw X O\nOslo X I-LOC\n\nEU X I-ORG\n. X O\n\n"


@pytest.mark.parametrize(
    ("content", "spec", "message"),
    [
        # an IOB1 file declared BIOES used to score strict F1 0.0
        (IOB1_SET, "{file: %s, scheme: bioes}",
         "sets.b: 2 of 2 sentences do not fit scheme bioes (first at %s:1: position 0: I-PER "
         "after O"),
        # item 13: POS tags scored by an NER model (scheme from the checkpoint: iob2)
        ("in X ADP\nOslo X PROPN\n\n", "%s",
         "sets.b: %s:1: position 0: malformed tag 'ADP'"),
        ("Anna X B-PER\n\n", "{file: %s, scheme: bio}", "sets.b.scheme: unknown tag scheme"),
    ],
)  # fmt: skip
def test_set_tags_must_fit_the_sets_scheme(
    content: str,
    spec: str,
    message: str,
    tiny_checkpoint: Path,
    tmp_path: Path,
    monkeypatch,
    capsys,
) -> None:
    gold = tmp_path / "gold.txt"
    gold.write_text(content)
    args = [f"ckpt_path={tiny_checkpoint}", f"hydra.run.dir={tmp_path / 'run'}"]
    argv = ["seqtagger-eval", *args, f"+sets.b={spec % gold}"]
    code, err = run_hydra_main(main, argv, monkeypatch, capsys)
    assert code == 2
    assert err.startswith("seqtagger-eval: error: ") and "Traceback" not in err
    assert message.replace("%s", str(gold)) in err
    assert not (tmp_path / "run" / "b" / "predictions.conll").exists()


POS_SET = REPO_ROOT / "docs" / "examples" / "pos.conllu"


def test_a_set_the_model_cannot_score_is_refused_before_any_set_is_tagged(
    tiny_checkpoint: Path, tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """POS tags (plain) against an NER model: named at start-up, with the schemes that work."""
    run = tmp_path / "run"
    pos = f"+sets.pos={{file: {POS_SET}, scheme: plain}}"
    sets = [f"+sets.dev={tiny_ner_dir / 'dev.txt'}", pos]
    argv = ["seqtagger-eval", f"ckpt_path={tiny_checkpoint}", f"hydra.run.dir={run}", *sets]
    code, err = run_hydra_main(main, argv, monkeypatch, capsys)
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        "seqtagger-eval: error: sets.pos.scheme=plain: the model predicts chunk tags (NER), "
        "which cannot be scored against plain tags; give sets.pos a file tagged for this model, "
        "with scheme iob1, iob2 or bioes"
    )
    assert not (run / "dev").exists()  # refused before the first set was tagged


def test_tags_that_do_not_fit_suggest_only_schemes_the_model_can_score(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    argv = ["seqtagger-eval", f"ckpt_path={tiny_checkpoint}", f"hydra.run.dir={tmp_path}"]
    code, err = run_hydra_main(main, [*argv, f"+sets.pos={POS_SET}"], monkeypatch, capsys)
    assert code == 2
    assert f"sets.pos: {POS_SET}:3: position 0: malformed tag 'PROPN'" in err
    assert "set sets.pos.scheme to the file's tag scheme (iob1, iob2, bioes) or fix" in err


def test_a_relative_set_path_is_tried_in_the_working_directory_then_in_data_dir(
    tiny_checkpoint: Path, tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "mine").mkdir(parents=True)
    (elsewhere / "mine" / "dev.txt").write_text((tiny_ner_dir / "dev.txt").read_text())
    monkeypatch.chdir(elsewhere)
    data = f"paths.data_dir={tiny_ner_dir}"
    found = compose_eval(
        [f"ckpt_path={tiny_checkpoint}", data, "+sets.here=mine/dev.txt", "+sets.data=test.txt"],
        tmp_path / "out",
    )
    assert set(evaluate(found)) == {"here", "data"}

    argv = ["seqtagger-eval", f"ckpt_path={tiny_checkpoint}", data, f"hydra.run.dir={tmp_path}"]
    code, err = run_hydra_main(main, [*argv, "+sets.x=docs/ner.jsonl"], monkeypatch, capsys)
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        "seqtagger-eval: error: sets.x: docs/ner.jsonl does not exist: looked in the working "
        f"directory ({elsewhere / 'docs' / 'ner.jsonl'}) and in paths.data_dir "
        f"({tiny_ner_dir / 'docs' / 'ner.jsonl'}); a relative path is tried in that order"
    )


def test_eval_prints_its_config_only_when_asked(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """The config tree is printed only with ``extras.print_config=true``."""
    argv = ["seqtagger-eval", f"ckpt_path={tmp_path / 'missing.ckpt'}", f"hydra.run.dir={tmp_path}"]
    printed = {}
    for flag in ("", "extras.print_config=true"):
        monkeypatch.setattr("sys.argv", [*argv, *filter(None, [flag])])
        with pytest.raises(SystemExit):  # the checkpoint is missing: after the config is printed
            main()
        printed[flag] = "CONFIG" in capsys.readouterr().out
    assert printed == {"": False, "extras.print_config=true": True}


def test_predictions_file_keeps_three_columns_when_tokens_hold_spaces(tmp_path: Path) -> None:
    """``1 000`` (CoNLL-U) and ``New\u00a0York`` broke conlleval's columns."""
    from seqtagger.evaluation.scoring import SetResult
    from seqtagger.evaluation.writing import write_predictions

    result = SetResult("x", "iob2", tokens=[["1 000", "New\u00a0York", "a\tb"]])
    result.gold = result.pred = [["O", "B-LOC", "O"]]
    write_predictions(result, tmp_path / "predictions.conll")
    lines = (tmp_path / "predictions.conll").read_text(encoding="utf-8").splitlines()
    assert lines == ["1_000 O O", "New_York B-LOC B-LOC", "a_b O O", ""]
    assert list(read_columns(tmp_path / "predictions.conll")) == [
        (["1_000", "New_York", "a_b"], ["O", "B-LOC", "O"], ["O", "B-LOC", "O"])
    ]


class FixedPredictor:
    """Stands in for Predictor: BIOES output chosen by the test, ill-formed chunks included."""

    train_scheme = scheme = "bioes"
    train_labels = ("B-PER", "E-PER", "I-PER", "O", "S-PER")

    def __init__(self, outputs: list[list[str]]) -> None:
        self.outputs = outputs

    def predict(self, sentences: list[list[str]], documents=None) -> list[list[str]]:
        return self.outputs[: len(sentences)]


def test_strict_scores_judge_the_models_own_tags(tmp_path: Path) -> None:
    from seqtagger.evaluation import held_out_from_file, score_set

    gold = tmp_path / "gold.txt"
    gold.write_text("Anna X I-PER\nsaw X O\nBob X I-PER\n\n")  # IOB1 file
    # "I-PER" after "O" is an ill-formed BIOES chunk: conlleval counts it, strict drops it
    predictor = FixedPredictor([["S-PER", "O", "I-PER"]])
    result = score_set(predictor, held_out_from_file("x", gold, "iob1"))
    assert result.metrics["f1"] == 1.0
    assert result.metrics["strict/recall"] == 0.5
    assert result.pred == [["I-PER", "O", "I-PER"]]  # written in the file's scheme


def test_every_gold_token_of_a_very_long_sentence_is_scored(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    """Longer than any training sentence (and than max_length): nothing is truncated."""
    long_file = tmp_path / "long.txt"
    words = [("Anna", "B-PER"), ("met", "O"), ("Lima", "B-LOC"), ("today", "O")] * 150
    long_file.write_text("".join(f"{w} X {t}\n" for w, t in words) + "\nOslo X B-LOC\n\n")
    results = evaluate(
        compose_eval([f"ckpt_path={tiny_checkpoint}", f"+sets.long={long_file}"], tmp_path)
    )
    assert results["long"]["tokens"] == 601
    assert results["long"]["per_type"]["PER"]["support"] == 150
    rows = list(read_columns(tmp_path / "long" / "predictions.conll"))
    assert [len(tokens) for tokens, _, _ in rows] == [600, 1]


def _fail_on_second_set(error: BaseException, monkeypatch: pytest.MonkeyPatch) -> None:
    """``score_set`` scores the first set, then raises ``error``."""
    import seqtagger.eval as eval_module

    calls = []

    def score_set(predictor, held_out, *rest):
        calls.append(held_out)
        if len(calls) == 2:
            raise error
        return real(predictor, held_out, *rest)

    real = eval_module.score_set
    monkeypatch.setattr(eval_module, "score_set", score_set)


@pytest.mark.parametrize(
    ("stop", "said"),
    [
        (KeyboardInterrupt(), "Interrupted"),
        (CorpusFormatError("b.txt:3: a line with one column"), "Stopped by an error"),
    ],
)
def test_a_stop_keeps_the_sets_already_scored(
    stop: BaseException,
    said: str,
    tiny_checkpoint: Path,
    tiny_ner_dir: Path,
    tmp_path: Path,
    monkeypatch,
    caplog,
) -> None:
    """Ctrl-C or an error during the second set: the first set's reports and its line in
    metrics.json stay, and the log says how far it got."""
    _fail_on_second_set(stop, monkeypatch)
    sets = [f"+sets.a={tiny_ner_dir / 'dev.txt'}", f"+sets.b={tiny_ner_dir / 'test.txt'}"]
    cfg = compose_eval([f"ckpt_path={tiny_checkpoint}", *sets], tmp_path / "out")
    with pytest.raises(type(stop)), caplog.at_level("WARNING"):
        evaluate(cfg)
    assert set(json.loads((tmp_path / "out" / "metrics.json").read_text())) == {"a"}
    assert (tmp_path / "out" / "a" / "report.txt").is_file()
    assert f"{said}: 1 of 2 sets scored (a)" in caplog.text


def test_gpu_out_of_memory_is_one_message(
    tiny_checkpoint: Path, tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    import torch

    _fail_on_second_set(torch.cuda.OutOfMemoryError("CUDA out of memory"), monkeypatch)
    sets = [f"+sets.a={tiny_ner_dir / 'dev.txt'}", f"+sets.b={tiny_ner_dir / 'test.txt'}"]
    args = [f"ckpt_path={tiny_checkpoint}", "batch_size=64", f"hydra.run.dir={tmp_path}", *sets]
    code, err = run_hydra_main(main, ["seqtagger-eval", *args], monkeypatch, capsys)
    assert code == 2, err
    assert "out of GPU memory scoring <b> with batch_size=64" in err
    assert "batch_size=16" in err and "Traceback" not in err
