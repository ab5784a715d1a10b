"""seqtagger-eval and seqtagger-predict on a model of two tasks (POS and NER from one file)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
from omegaconf import DictConfig

from seqtagger.data.tasks import Task
from seqtagger.errors import ConfigError, SchemeError
from seqtagger.eval import evaluate, main
from seqtagger.inference.outputs import conllu_fields, format_conllu
from seqtagger.metrics.conlleval import evaluate as conlleval_evaluate
from seqtagger.metrics.conlleval import read_columns
from tests.helpers import (
    compose_config,
    compose_train,
    make_ner_sentence,
    run_hydra_main,
    tiny_ner_overrides,
    write_pos_ner,
)
from tests.predict_cli import cli, jsonl

TASKS = "data.tasks={pos: {column: 1}, ner: {column: 2, file_scheme: iob2, headline: true}}"
SPAN_METRICS = ("acc", "precision", "recall", "f1", "strict/f1", "f1/PER", "f1/LOC")


@pytest.fixture(scope="module")
def pos_ner_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train/dev/test files of a generated corpus: ``token POS NER`` (240/40/40 sentences)."""
    data = tmp_path_factory.mktemp("pos_ner")
    rng = random.Random(11)
    for name, count in (("train.txt", 240), ("dev.txt", 40), ("test.txt", 40)):
        write_pos_ner(data / name, [make_ner_sentence(rng) for _ in range(count)])
    return data


@pytest.fixture(scope="module")
def two_task_run(pos_ner_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder of a tiny POS + NER tagger (NER the headline), trained for 3 epochs."""
    from seqtagger.train import train

    run = tmp_path_factory.mktemp("two_task_run")
    overrides = [*tiny_ner_overrides(pos_ner_dir), TASKS, "trainer.max_epochs=3"]
    train(compose_train(overrides, run))
    return run


@pytest.fixture(scope="module")
def two_task_ckpt(two_task_run: Path) -> Path:
    return two_task_run / "checkpoints" / "best.ckpt"


def compose_eval(overrides: list[str], output_dir: Path) -> DictConfig:
    return compose_config("eval", [*overrides, "device=cpu"], output_dir)


# --------------------------------------------------------------------------- seqtagger-eval


def test_eval_reproduces_each_tasks_test_metrics(two_task_run: Path, tmp_path: Path) -> None:
    trained = json.loads((two_task_run / "metrics.json").read_text())
    ckpt = two_task_run / "checkpoints" / "best.ckpt"
    results = evaluate(compose_eval([f"ckpt_path={ckpt}"], tmp_path))  # the run's test split
    scored = results["test"]
    assert trained["test/ner/f1"] > 0  # the numbers compared are not all zeros
    assert scored["pos/acc"] == pytest.approx(trained["test/pos/acc"], abs=1e-6)
    for name in SPAN_METRICS:
        assert scored[f"ner/{name}"] == pytest.approx(trained[f"test/ner/{name}"], abs=1e-6)
    for name in ("acc", "f1"):  # the headline task's, as training names them
        assert scored[name] == pytest.approx(trained[f"test/{name}"], abs=1e-6)
    assert "pos/f1" not in scored
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"test": scored}

    for task in ("pos", "ner"):
        folder = tmp_path / "test" / task
        for file in ("metrics.json", "report.txt", "confusion.csv", "confusion.png"):
            assert (folder / file).is_file(), (task, file)
        assert json.loads((folder / "metrics.json").read_text())["acc"] == scored[f"{task}/acc"]
    assert (tmp_path / "test" / "ner" / "per_type_f1.png").is_file()
    assert "(task ner)" in (tmp_path / "test" / "ner" / "report.txt").read_text()
    # each task's own predictions re-score with conlleval to the reported numbers
    rows = list(read_columns(tmp_path / "test" / "ner" / "predictions.conll"))
    counts = conlleval_evaluate(((gold, pred) for _, gold, pred in rows), scheme="iob2")
    assert counts.f1() == pytest.approx(scored["ner/f1"])


def test_eval_writes_every_tasks_columns_side_by_side(two_task_ckpt: Path, tmp_path: Path) -> None:
    evaluate(compose_eval([f"ckpt_path={two_task_ckpt}"], tmp_path))
    lines = (tmp_path / "test" / "predictions.conll").read_text().splitlines()
    assert lines[0] == "# columns = token gold_pos pred_pos gold_ner pred_ner"
    columns = [line.split(" ") for line in lines[1:] if line]
    assert {len(row) for row in columns} == {5}
    own = {}
    for task in ("pos", "ner"):
        path = tmp_path / "test" / task / "predictions.conll"
        own[task] = [line.split(" ") for line in path.read_text().splitlines() if line]
    assert [row[:3] for row in columns] == own["pos"]
    assert [[row[0], *row[3:]] for row in columns] == own["ner"]


def test_eval_logs_each_task_to_tensorboard(two_task_ckpt: Path, tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    evaluate(compose_eval([f"ckpt_path={two_task_ckpt}"], tmp_path))
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    tags = events.Tags()
    assert {"test/pos/acc", "test/ner/f1", "test/acc", "test/f1"} <= set(tags["scalars"])
    assert {"test/pos/confusion", "test/ner/per_type_f1"} <= set(tags["images"])


def test_tasks_option_scores_the_tasks_it_names(two_task_ckpt: Path, tmp_path: Path) -> None:
    results = evaluate(compose_eval([f"ckpt_path={two_task_ckpt}", "tasks=[pos]"], tmp_path))
    assert {key.split("/")[0] for key in results["test"]} == {"sentences", "tokens", "pos"}
    assert "acc" not in results["test"]  # the headline task was not scored
    assert (tmp_path / "test" / "pos" / "report.txt").is_file()
    assert not (tmp_path / "test" / "ner").exists()
    with pytest.raises(ConfigError, match="the model's tasks are pos, ner"):
        evaluate(compose_eval([f"ckpt_path={two_task_ckpt}", "tasks=[lemma]"], tmp_path / "x"))


def test_gold_tags_the_model_never_saw_are_errors_in_each_task(
    two_task_ckpt: Path, tmp_path: Path
) -> None:
    gold = tmp_path / "odd.txt"
    gold.write_text("Anna NNP B-PER\nin IN O\nMay XX B-DATE\n. . O\n\nOslo NNP B-LOC\n\n")
    results = evaluate(compose_eval([f"ckpt_path={two_task_ckpt}", f"+sets.odd={gold}"], tmp_path))
    scored = results["odd"]
    assert scored["pos/unknown_tags"] == {"XX": 1} and scored["pos/unseen_gold_tokens"] == 1
    assert scored["ner/unknown_tags"] == {"B-DATE": 1} and scored["ner/unseen_gold_tokens"] == 1
    rows = list(read_columns(tmp_path / "odd" / "pos" / "predictions.conll"))
    pairs = [(g, p) for _, golds, preds in rows for g, p in zip(golds, preds, strict=True)]
    assert scored["pos/acc"] == pytest.approx(sum(g == p for g, p in pairs) / 5)
    assert scored["ner/recall"] <= 3 / 4  # the DATE chunk is a gold chunk nothing predicts


def test_a_sets_schemes_are_the_primary_tasks_and_each_named_tasks(
    two_task_ckpt: Path, pos_ner_dir: Path, tmp_path: Path
) -> None:
    """``scheme`` is the primary task's (NER here); ``schemes`` names the others'."""
    from seqtagger.data.schemes import convert_tags

    rows = [line.split() for line in (pos_ner_dir / "test.txt").read_text().splitlines()]
    sentences, tokens = [], []
    for row in [*rows, []]:
        if row:
            tokens.append(row)
        elif tokens:
            sentences.append(tokens)
            tokens = []
    iob1 = tmp_path / "test_iob1.txt"
    lines = []
    for sentence in sentences:
        ner = convert_tags([row[2] for row in sentence], "iob2", "iob1")
        lines += [f"{row[0]} {row[1]} {tag}" for row, tag in zip(sentence, ner, strict=True)]
        lines.append("")
    iob1.write_text("\n".join(lines) + "\n")
    sets = [
        f"+sets.two={pos_ner_dir / 'test.txt'}",
        f"+sets.one={{file: {iob1}, scheme: iob1, schemes: {{pos: plain}}}}",
    ]
    results = evaluate(compose_eval([f"ckpt_path={two_task_ckpt}", *sets], tmp_path / "out"))
    for name in ("pos/acc", "ner/f1", "ner/strict/f1"):
        assert results["one"][name] == pytest.approx(results["two"][name], abs=1e-6), name
    assert (
        json.loads((tmp_path / "out" / "one" / "ner" / "metrics.json").read_text())["per_type"]
        == json.loads((tmp_path / "out" / "two" / "ner" / "metrics.json").read_text())["per_type"]
    )

    refused = {
        "lemma: plain": (ConfigError, "sets.x.schemes.lemma: not a task scored here"),
        "pos: iob2": (SchemeError, "sets.x.schemes.pos=iob2: task pos predicts plain labels"),
    }
    for schemes, (error, message) in refused.items():
        spec = f"+sets.x={{file: {iob1}, schemes: {{{schemes}}}}}"
        with pytest.raises(error, match=re.escape(message)):
            evaluate(compose_eval([f"ckpt_path={two_task_ckpt}", spec], tmp_path))
    assert not (tmp_path / "x").exists()


def test_score_set_gives_the_primary_tasks_result(two_task_ckpt: Path, pos_ner_dir: Path) -> None:
    from seqtagger.evaluation import (
        held_out_from_file,
        score_set,
        score_set_tasks,
        scoring_predictor,
    )
    from seqtagger.inference import Predictor

    held_out = held_out_from_file("test", pos_ner_dir / "test.txt", "iob2")
    predictor = scoring_predictor(Predictor.from_checkpoint(two_task_ckpt, device="cpu"))
    primary = score_set(predictor, held_out)
    by_task = score_set_tasks(predictor, held_out)
    assert primary.task is None and by_task["ner"].task == "ner"
    assert primary.metrics["f1"] == by_task["ner"].metrics["f1"]
    assert primary.pred == by_task["ner"].pred


def test_a_set_missing_a_tasks_column_is_one_clear_error(
    two_task_ckpt: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    pos_only = tmp_path / "pos_only.txt"
    pos_only.write_text("Anna NNP\nsaw VBD\n\n")
    argv = ["seqtagger-eval", f"ckpt_path={two_task_ckpt}", f"hydra.run.dir={tmp_path / 'run'}"]
    code, err = run_hydra_main(main, [*argv, f"+sets.p={pos_only}"], monkeypatch, capsys)
    assert code == 2 and "Traceback" not in err
    assert f"{pos_only}:1: task 'ner' reads column 2" in err
    assert not (tmp_path / "run" / "p").exists()


def test_a_tasks_tags_that_do_not_fit_its_scheme_name_the_task(
    two_task_ckpt: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    swapped = tmp_path / "swapped.txt"
    swapped.write_text("Anna B-PER NNP\nsaw O VBD\n\n")  # NER in the POS column and back
    argv = ["seqtagger-eval", f"ckpt_path={two_task_ckpt}", f"hydra.run.dir={tmp_path / 'run'}"]
    code, err = run_hydra_main(main, [*argv, f"+sets.s={swapped}"], monkeypatch, capsys)
    assert code == 2 and "Traceback" not in err
    assert f"sets.s (task ner): {swapped}:1: position 0: malformed tag 'NNP'" in err
    assert "set sets.s.scheme to the file's tag scheme" in err


# --------------------------------------------------------------------------- seqtagger-predict

SENTENCES = [["Anna", "Smith", "visited", "Paris", "today", "."], ["the", "report", "said"]]


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "in.tok"
    path.write_text("\n".join(" ".join(s) for s in SENTENCES) + "\n", encoding="utf-8")
    return path


def _predict(capsys, ckpt: Path, source: Path, *options: str) -> tuple[int, str, str]:
    return cli(capsys, "--ckpt", ckpt, source, "--input-format", "tokens", *options)


def _sentences(out: str) -> list[list[list[str]]]:
    """The output's sentences as rows of tab-separated fields (comments left out)."""
    blocks = out.strip("\n").split("\n\n")
    return [
        [line.split("\t") for line in b.splitlines() if not line.startswith("#")] for b in blocks
    ]


def test_predict_writes_a_column_per_task_and_tasks_picks_some(
    two_task_ckpt: Path, tokens_file: Path, capsys
) -> None:
    code, out, err = _predict(capsys, two_task_ckpt, tokens_file, "--no-progress", "-v")
    assert code == 0, err
    assert "tasks pos in plain, ner in iob2" in err
    assert out.startswith("# columns = token pos ner\n") and out.count("# columns") == 1
    both = _sentences(out)
    assert [[row[0] for row in rows] for rows in both] == SENTENCES
    assert {len(row) for rows in both for row in rows} == {3}
    for task, column in (("ner", 2), ("pos", 1)):
        code, out, err = _predict(capsys, two_task_ckpt, tokens_file, "--tasks", task)
        assert code == 0, err
        assert not out.startswith("#")
        assert _sentences(out) == [[[row[0], row[column]] for row in rows] for rows in both]


def test_predict_jsonl_keeps_the_primary_tags_and_adds_every_layer(
    two_task_ckpt: Path, tmp_path: Path, capsys
) -> None:
    text = tmp_path / "in.txt"
    text.write_text("Anna Smith visited Paris today.\n", encoding="utf-8")
    code, out, err = cli(capsys, "--ckpt", two_task_ckpt, text, "--format", "jsonl")
    assert code == 0, err
    (record,) = jsonl(out)
    assert set(record["layers"]) == {"pos", "ner"}
    assert record["tags"] == record["layers"]["ner"]["tags"]  # the headline task's
    assert record["spans"] == record["layers"]["ner"]["spans"]
    assert "spans" not in record["layers"]["pos"]
    line = text.read_text().splitlines()[0]
    for span in record["layers"]["ner"]["spans"]:  # raw text: offsets in the line
        assert line[span["char_start"] : span["char_end"]].split() == span["text"].split()
    code, out, err = cli(
        capsys, "--ckpt", two_task_ckpt, text, "--format", "jsonl", "--tasks", "pos"
    )
    assert code == 0, err
    (record,) = jsonl(out)
    assert "layers" not in record and record["spans"] == []


def test_predict_conllu_puts_tasks_without_a_field_in_misc(
    two_task_ckpt: Path, tokens_file: Path, capsys
) -> None:
    code, out, err = _predict(capsys, two_task_ckpt, tokens_file, "--format", "conllu")
    assert code == 0, err
    code, columns, err = _predict(capsys, two_task_ckpt, tokens_file)
    expected = [
        [
            [str(i), token, *"_" * 7, f"pos={pos}|ner={ner}"]
            for i, (token, pos, ner) in enumerate(rows, 1)
        ]
        for rows in _sentences(columns)
    ]
    assert _sentences(out) == expected


def test_conllu_fields_take_the_tasks_columns_or_names() -> None:
    tasks = [
        Task("upos", "upos"),
        Task("tag", "xpos"),
        Task("feats", 5),
        Task("ner", 3, "iob2", "bioes"),
        Task("pos", "upos"),  # the field is taken: MISC
    ]
    fields = conllu_fields(tasks)
    assert fields == {"upos": "upos", "tag": "xpos", "feats": "feats", "ner": "misc", "pos": "misc"}
    layers = {
        "upos": ["PROPN", "VERB"],
        "tag": ["NNP", "VBD"],
        "feats": ["Number=Sing", "Mood=Ind|Tense=Past"],
        "ner": ["S-PER", "O"],
        "pos": ["NNP", "VBD"],
    }
    assert format_conllu(["Anna", "saw\tit"], layers, fields).splitlines() == [
        "1\tAnna\t_\tPROPN\tNNP\tNumber=Sing\t_\t_\t_\tner=S-PER|pos=NNP",
        "2\tsaw_it\t_\tVERB\tVBD\tMood=Ind|Tense=Past\t_\t_\t_\tner=O|pos=VBD",
        "",
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--tasks", "pos,lemma"), "the model's tasks are pos, ner"),
        (
            ("--scores",),
            "--scores gives the probabilities of one task's tags: name one with --tasks",
        ),
        (("--tasks", "ner", "--scores", "--format", "conllu"), "--scores: CoNLL-U has no field"),
    ],
)
def test_predict_refuses_tasks_it_cannot_give(
    options: tuple[str, ...], message: str, two_task_ckpt: Path, tokens_file: Path, capsys
) -> None:
    code, out, err = _predict(capsys, two_task_ckpt, tokens_file, *options)
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err
