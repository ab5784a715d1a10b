"""Bad input through the real entry points: every reader case in every format in
train, eval and predict, config choices that do not exist, and checkpoints that cannot be used.
Each ends in exit code 2 and one line naming the file and line or the config key."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seqtagger import eval as eval_cli
from seqtagger import predict, train
from seqtagger.checkpoint import CHECKPOINT_FORMAT
from tests.helpers import run_hydra_main, tiny_ner_overrides

# case: (file name, bytes, what the message says after "<path>")
READER_CASES = {
    "conll too few columns": ("bad.conll", b"EU X B-ORG\nsays\n\n", ":2: too few columns"),
    "conll too many columns": ("bad.conll", b"EU B-ORG\n\nNew York B-LOC\n", ":3: too many"),
    "conll not utf-8": ("bad.conll", b"EU X B-ORG\n\xff X O\n\n", ":2: not valid UTF-8"),
    "conll empty file": ("bad.conll", b"", ""),
    "conll only docstart": ("bad.conll", b"-DOCSTART- -X- O O\n\n", ""),
    "conllu wrong columns": ("bad.conllu", b"1\tEU\n", ":1: found 2 tab-separated columns"),
    "conllu not utf-8": ("bad.conllu", b"1\t\xff\t_\tX\t_\t_\t0\troot\t_\t_\n", ":1: not valid"),
    "jsonl invalid json": ("bad.jsonl", b'{"tokens": ["a"], "tags": ["O"]}\n{', ":2: invalid JSON"),
    "jsonl no tokens key": ("bad.jsonl", b'{"words": ["a"], "tags": ["O"]}\n', ":1: "),
    "jsonl whitespace token": (
        "bad.jsonl",
        b'{"tokens": ["a", " "], "tags": ["O", "O"]}\n',
        ":1: token 1: token ' ' is only whitespace",
    ),
    "jsonl line break in token": (
        "bad.jsonl",
        b'{"tokens": ["Ger\\nman"], "tags": ["O"]}\n',
        ":1: token 0: token 'Ger\\nman' contains a line break",
    ),
    "json not a list": ("bad.json", b'{"tokens": ["a"]}', ":1: expected a list of records"),
    "json invalid": ("bad.json", b'[{"tokens": ["a"], "tags": ["O"]},', ":1: invalid JSON"),
    "parquet not parquet": ("bad.parquet", b"PAR1 but not parquet", ": not a readable parquet"),
}


def write_case(folder: Path, case: str) -> tuple[Path, str]:
    """The bad file of ``case`` in ``folder`` and the message part that names it."""
    name, content, what = READER_CASES[case]
    path = folder / name
    path.write_bytes(content)
    return path, f"{path}{what}"


def assert_one_line(code: int, err: str, program: str, *parts: str) -> None:
    """Exit code 2, no traceback, and a last line ``<program>: error: ...`` holding ``parts``."""
    assert code == 2, err[-2000:]
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]  # datasets' progress bars may come before it
    assert last.startswith(f"{program}: error: "), last
    for part in parts:
        assert part in last, (part, last)


def train_cli(args: list[str], tmp_path: Path, monkeypatch, capsys) -> tuple[int, str]:
    """``seqtagger-train args`` in process on one CPU, into ``tmp_path/run``."""
    argv = ["seqtagger-train", *args, "trainer=cpu", "logger=csv", "extras.print_config=false"]
    argv.append(f"hydra.run.dir={tmp_path / 'run'}")
    return run_hydra_main(train.main, argv, monkeypatch, capsys)


def eval_cli_run(args: list[str], tmp_path: Path, monkeypatch, capsys) -> tuple[int, str]:
    """``seqtagger-eval args`` in process on the CPU, into ``tmp_path/run``."""
    argv = ["seqtagger-eval", *args, "device=cpu", f"hydra.run.dir={tmp_path / 'run'}"]
    return run_hydra_main(eval_cli.main, argv, monkeypatch, capsys)


def predict_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """``seqtagger-predict args``: exit code, stdout, stderr."""
    code = predict.main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("case", list(READER_CASES))
@pytest.mark.parametrize("entry", ["train", "eval", "predict"])
def test_every_reader_case_in_every_entry_point(
    entry: str, case: str, tiny_ner_dir: Path, tiny_checkpoint: Path, tmp_path: Path,
    monkeypatch, capsys,
) -> None:  # fmt: skip
    bad, message = write_case(tmp_path, case)
    if entry == "train":
        args = [*tiny_ner_overrides(tiny_ner_dir), f"data.files.train={bad}"]
        code, err = train_cli(args, tmp_path, monkeypatch, capsys)
    elif entry == "eval":
        code, err = eval_cli_run([f"ckpt_path={tiny_checkpoint}", f"+sets.x={bad}"], tmp_path,
                                 monkeypatch, capsys)  # fmt: skip
    else:
        code, _, err = predict_cli(["--ckpt", tiny_checkpoint, bad], capsys)
    assert_one_line(code, err, f"seqtagger-{entry}", message)


@pytest.mark.parametrize("entry", ["train", "eval", "predict"])
def test_a_folder_that_is_not_a_saved_dataset(
    entry: str, tiny_ner_dir: Path, tiny_checkpoint: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """The save_to_disk format: a folder without a dataset in it."""
    bad = tmp_path / "not_a_dataset"
    bad.mkdir()
    (bad / "notes.txt").write_text("hello\n")
    if entry == "train":
        args = [*tiny_ner_overrides(tiny_ner_dir), f"data.files.train={bad}"]
        code, err = train_cli(args, tmp_path, monkeypatch, capsys)
    elif entry == "eval":
        args = [f"ckpt_path={tiny_checkpoint}", f"+sets.x={bad}"]
        code, err = eval_cli_run(args, tmp_path, monkeypatch, capsys)
    else:
        code, _, err = predict_cli(["--ckpt", tiny_checkpoint, bad], capsys)
    assert_one_line(code, err, f"seqtagger-{entry}", f"{bad}: not a dataset folder")


@pytest.mark.parametrize(
    ("override", "choices"),
    [
        ("model=nope", "choose from: bilstm, hf, transformer"),
        ("data=nope", "choose from: conll2003, files, hub, ud_ewt"),
        ("model/head=nope", "choose from: crf, linear"),
        ("trainer=nope", "choose from: cpu, ddp, ddp_sim, default, gpu, multinode"),
        ("+experiment=nope", "choose from: conll2003_bilstm,"),
    ],
)
def test_config_choice_that_does_not_exist_lists_the_choices(
    override: str, choices: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    """Hydra printed a many-line error and exited 1 before seqtagger ran."""
    code, err = train_cli([override], tmp_path, monkeypatch, capsys)
    group = override.lstrip("+").split("=")[0]
    assert_one_line(code, err, "seqtagger-train", f"{group}=nope: there is no config", choices)


def test_override_hydra_cannot_parse_is_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    code, err = train_cli(["data.batch_size=["], tmp_path, monkeypatch, capsys)
    assert_one_line(code, err, "seqtagger-train", "no viable alternative at input '['")


def bad_checkpoint(case: str, good: Path, folder: Path) -> tuple[Path, str]:
    """A checkpoint path of ``case`` and the message part expected for it."""
    path = folder / f"{case.replace(' ', '_')}.ckpt"
    if case == "missing":
        return path, "no such"
    if case == "not a checkpoint":
        path.write_text("weights, honest\n")
        return path, "not a loadable checkpoint"
    if case == "truncated":
        data = good.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        return path, "not a loadable checkpoint"
    checkpoint = torch.load(good, weights_only=True)
    checkpoint["seqtagger"]["format"] = 99
    torch.save(checkpoint, path)
    return path, f"checkpoint format 99, but this seqtagger reads formats up to {CHECKPOINT_FORMAT}"


@pytest.mark.parametrize("case", ["missing", "not a checkpoint", "truncated", "newer format"])
@pytest.mark.parametrize("entry", ["train", "eval", "predict"])
def test_checkpoint_that_cannot_be_used(
    entry: str, case: str, tiny_ner_dir: Path, tiny_checkpoint: Path, tmp_path: Path,
    monkeypatch, capsys,
) -> None:  # fmt: skip
    ckpt, message = bad_checkpoint(case, tiny_checkpoint, tmp_path)
    if entry == "train":
        args = [*tiny_ner_overrides(tiny_ner_dir), f"ckpt_path={ckpt}"]
        code, err = train_cli(args, tmp_path, monkeypatch, capsys)
    elif entry == "eval":
        gold = tiny_ner_dir / "dev.txt"
        code, err = eval_cli_run([f"ckpt_path={ckpt}", f"+sets.x={gold}"], tmp_path,
                                 monkeypatch, capsys)  # fmt: skip
    else:
        text = tmp_path / "in.txt"
        text.write_text("Anna visited Paris .\n")
        code, _, err = predict_cli(["--ckpt", ckpt, text], capsys)
    assert_one_line(code, err, f"seqtagger-{entry}", str(ckpt), message)


def test_eval_data_with_another_label_set(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """POS tags scored by an NER checkpoint: refused, naming the set, file and line. (NER data
    with some entity types the model never saw is scored, those tags counting as errors, with a
    warning: tests/test_eval.py::test_unknown_gold_tags_are_scored_as_errors.)"""
    gold = tmp_path / "pos.txt"
    gold.write_text("in X ADP\nOslo X PROPN\n\n")
    code, err = eval_cli_run([f"ckpt_path={tiny_checkpoint}", f"+sets.pos={gold}"], tmp_path,
                             monkeypatch, capsys)  # fmt: skip
    assert_one_line(code, err, "seqtagger-eval", f"sets.pos: {gold}:1: ", "malformed tag 'ADP'")


def test_train_split_empty_after_filtering(tiny_ner_dir: Path, tmp_path, monkeypatch, capsys):
    """Every record is empty: the reader skips them all, so nothing is left to train on."""
    empty = tmp_path / "train.jsonl"
    empty.write_text('{"tokens": [], "tags": []}\n' * 3)
    args = [*tiny_ner_overrides(tiny_ner_dir), f"data.files.train={empty}"]
    code, err = train_cli(args, tmp_path, monkeypatch, capsys)
    assert_one_line(code, err, "seqtagger-train", f"{empty}: no sentences found")


@pytest.mark.parametrize("value", ["0", "-3"])
@pytest.mark.parametrize("key", ["data.batch_size", "data.eval_batch_size"])
def test_batch_size_below_one_names_the_key(
    key: str, value: str, tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    args = [*tiny_ner_overrides(tiny_ner_dir), f"{key}={value}"]
    code, err = train_cli(args, tmp_path, monkeypatch, capsys)
    assert_one_line(code, err, "seqtagger-train", f"{key}={value}: expected an integer >= 1")


@pytest.mark.parametrize("value", ["0", "-3"])
def test_eval_batch_size_below_one_names_the_key(
    value: str, tiny_ner_dir: Path, tiny_checkpoint: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """Used to fail only after the model load, without the key: ``batch_size must be >= 1``."""
    args = [f"ckpt_path={tiny_checkpoint}", f"+sets.x={tiny_ner_dir / 'dev.txt'}"]
    code, err = eval_cli_run([*args, f"batch_size={value}"], tmp_path, monkeypatch, capsys)
    assert_one_line(code, err, "seqtagger-eval", f"batch_size={value}: expected an integer >= 1")


@pytest.mark.parametrize("value", ["0", "-3"])
def test_predict_batch_size_below_one(value: str, tiny_checkpoint: Path, capsys) -> None:
    code, _, err = predict_cli(["--ckpt", tiny_checkpoint, "--batch-size", value], capsys)
    assert_one_line(code, err, "seqtagger-predict", "--batch-size", "expected a positive")


@pytest.mark.parametrize("content", ["", "\n \n\t\n"])
def test_empty_predict_input(content: str, tiny_checkpoint: Path, tmp_path: Path, capsys):
    source = tmp_path / "empty.txt"
    source.write_text(content)
    code, out, err = predict_cli(["--ckpt", tiny_checkpoint, source], capsys)
    assert out == ""
    assert_one_line(code, err, "seqtagger-predict", "no sentences in", str(source))


@pytest.mark.parametrize("devices", ["2", "[0]"])
def test_more_gpus_than_there_are(devices: str, tiny_ner_dir, tmp_path, monkeypatch, capsys):
    """Lightning raised a bare MisconfigurationException (exit code 1)."""
    monkeypatch.setattr("torch.cuda.device_count", lambda: 0)  # the same on any machine
    args = [*tiny_ner_overrides(tiny_ner_dir), "trainer.accelerator=gpu"]
    args.append(f"trainer.devices={devices}")
    argv = ["seqtagger-train", *args, "logger=csv", f"hydra.run.dir={tmp_path / 'run'}"]
    code, err = run_hydra_main(train.main, argv, monkeypatch, capsys)
    assert_one_line(code, err, "seqtagger-train", f"trainer.devices={devices}",
                    "but this machine has none: use trainer=cpu")  # fmt: skip


def test_trainer_gpu_without_a_gpu_says_so(tmp_path: Path, monkeypatch, capsys) -> None:
    """The message was "ask for at most 0"."""
    monkeypatch.setattr("torch.cuda.device_count", lambda: 0)
    argv = ["seqtagger-train", "trainer=gpu", "logger=csv", f"hydra.run.dir={tmp_path / 'run'}"]
    code, err = run_hydra_main(train.main, argv, monkeypatch, capsys)
    assert_one_line(code, err, "seqtagger-train", "trainer=gpu asks for 1 GPU (trainer.accel",
                    "but this machine has none: use trainer=cpu")  # fmt: skip
    assert "at most" not in err


def test_a_vocabulary_option_that_does_not_exist(
    tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """``+data.vocab.foo=1`` failed as a TypeError from build_vocabs (exit code 1)."""
    args = [*tiny_ner_overrides(tiny_ner_dir), "+data.vocab.foo=1"]
    code, err = train_cli(args, tmp_path, monkeypatch, capsys)
    assert_one_line(code, err, "seqtagger-train", "data.vocab.foo=1: not a vocabulary option",
                    "min_freq, max_size, lowercase, normalize_digits")  # fmt: skip


def test_a_model_folder_without_a_model(
    tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """An empty folder: the tokenizer raised a ValueError about sentencepiece (exit code 1)."""
    pytest.importorskip("transformers", reason="the optional extra seqtagger[transformers]")
    from tests.helpers import tiny_hf_overrides

    empty = tmp_path / "no_model"
    empty.mkdir()
    code, err = train_cli(tiny_hf_overrides(tiny_ner_dir, empty), tmp_path, monkeypatch, capsys)
    message = f"model.embedding.model_name_or_path={empty}: the folder has no config.json"
    assert_one_line(code, err, "seqtagger-train", message)


def test_hub_dataset_offline(tmp_path: Path, monkeypatch, capsys) -> None:
    """datasets 5 raises ConnectionError offline (no longer FileNotFoundError): exit code 1."""

    def offline(name, *args, **kwargs):
        raise ConnectionError(f"Couldn't reach '{name}' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr("datasets.load_dataset", offline)
    args = ["data=hub", "data.reader.name=someone/tagged"]
    code, err = train_cli(args, tmp_path, monkeypatch, capsys)
    assert_one_line(code, err, "seqtagger-train", "someone/tagged[train]: the hub is not reachable",
                    "OfflineModeIsEnabled", "give a local copy (data=files)")  # fmt: skip


def test_a_value_the_config_leaves_to_the_user(tmp_path: Path, monkeypatch, capsys) -> None:
    """``data=hub`` without ``data.reader.name`` (``???``): omegaconf's MissingMandatoryValue."""
    code, err = train_cli(["data=hub"], tmp_path, monkeypatch, capsys)
    assert_one_line(code, err, "seqtagger-train", "data.reader.name: the config leaves it to you")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["-m", "data.batch_size=8,16", "--cfg", "job"], "--multirun and --cfg: give one of"),
        (["--resolve"], "--resolve resolves the config that --cfg prints: add --cfg job"),
    ],
)
def test_hydra_modes_that_do_not_go_together(
    flags: list[str], message: str, monkeypatch, capsys
) -> None:
    """Hydra raised a bare ValueError for both (a traceback, exit code 1)."""
    code, err = run_hydra_main(train.main, ["seqtagger-train", *flags], monkeypatch, capsys)
    assert_one_line(code, err, "seqtagger-train", message)
