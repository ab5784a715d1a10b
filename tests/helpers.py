"""Helpers the tests import: tiny generated corpora, the shared real corpora, composed configs,
child processes on this checkout, and a probe callback for DDP runs."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from lightning import Callback
from omegaconf import DictConfig, open_dict

from seqtagger.training.checkpoint_io import AtomicCheckpointIO

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO_ROOT / "configs"

FIRST_NAMES = ["Anna", "Boris", "Chen", "Dana", "Emil", "Fatima", "Goran", "Hana"]
LAST_NAMES = ["Smith", "Ivanova", "Li", "Okafor", "Berg", "Haddad"]
PLACES = ["Paris", "Lagos", "Oslo", "Lima", "Hanoi", "Quito"]
ORGS = [["Acme", "Corp"], ["United", "Nations"], ["Red", "Cross"], ["EU"]]
FILLER = [
    *("the", "a", "said", "on", "in", "of", "to", "visited", "met", "with", "from"),
    *("and", "today", "report", "new", "big", "city"),
]


def shared_data_dir() -> Path | None:
    """The real corpora folder: $SEQTAGGER_DATA_DIR, else ../shared/data beside the repo."""
    path = Path(os.environ.get("SEQTAGGER_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))
    has_both = (path / "ud_en_ewt").is_dir() and (path / "conll2003").is_dir()
    return path if has_both else None


def make_ner_sentence(rng: random.Random) -> tuple[list[str], list[str]]:
    """A random sentence with PER/LOC/ORG entities, tagged in IOB2."""
    tokens: list[str] = []
    tags: list[str] = []
    for _ in range(rng.randint(1, 4)):
        for _ in range(rng.randint(0, 3)):
            tokens.append(rng.choice(FILLER))
            tags.append("O")
        kind = rng.choice(["PER", "LOC", "ORG"])
        if kind == "PER":
            words = [rng.choice(FIRST_NAMES)] + (
                [rng.choice(LAST_NAMES)] if rng.random() < 0.6 else []
            )
        elif kind == "LOC":
            words = [rng.choice(PLACES)]
        else:
            words = list(rng.choice(ORGS))
        tokens.extend(words)
        tags.extend([f"B-{kind}"] + [f"I-{kind}"] * (len(words) - 1))
    tokens.append(".")
    tags.append("O")
    return tokens, tags


POS_OF = {
    **dict.fromkeys(("the", "a"), "DT"),
    **dict.fromkeys(("said", "visited", "met"), "VBD"),
    **dict.fromkeys(("on", "in", "of", "with", "from"), "IN"),
    **dict.fromkeys(("today", "report", "city"), "NN"),
    **dict.fromkeys(("new", "big"), "JJ"),
    **{"to": "TO", "and": "CC", ".": "."},
}
"""Parts of speech of the tiny corpus' words (``make_ner_sentence``); names are NNP."""


def write_pos_ner(
    path: Path, sentences: list[tuple[list[str], list[str]]], extra: str = ""
) -> Path:
    """``token POS NER`` lines (POS from the word, NNP for names), IOB2 NER: a corpus of two
    tag layers; ``extra``: lines appended at the end (a mistake to find)."""
    lines = []
    for tokens, tags in sentences:
        lines += [f"{t} {POS_OF.get(t, 'NNP')} {tag}" for t, tag in zip(tokens, tags, strict=True)]
        lines.append("")
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return path


def write_conll(
    path: Path, sentences: list[tuple[list[str], list[str]]], docstart: bool = True
) -> Path:
    """Write ``token POS tag`` CoNLL columns, IOB2 tags, ``-DOCSTART-`` on top."""
    lines = ["-DOCSTART- -X- O O", ""] if docstart else []
    for tokens, tags in sentences:
        lines += [f"{token} X {tag}" for token, tag in zip(tokens, tags, strict=True)]
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def compose_config(config_name: str, overrides: list[str], output_dir: Path) -> DictConfig:
    """Compose a real config (``train``, ``eval``) with ``overrides``; outputs to ``output_dir``."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR)):
        cfg = compose(config_name=config_name, return_hydra_config=True, overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.paths.log_dir = str(output_dir)
        cfg.extras.print_config = False
        cfg.hydra.runtime.output_dir = str(output_dir)
    HydraConfig().set_config(cfg)
    GlobalHydra.instance().clear()
    return cfg


def compose_train(overrides: list[str], output_dir: Path) -> DictConfig:
    """``train.yaml`` on one CPU, without a progress bar."""
    cpu = ["trainer.accelerator=cpu", "trainer.devices=1", "+trainer.enable_progress_bar=false"]
    return compose_config("train", [*overrides, *cpu], output_dir)


def tiny_ner_overrides(tiny_dir: Path, model: str = "bilstm") -> list[str]:
    """Overrides that point ``data=files`` at the tiny corpus and shrink the model."""
    small = (
        ["model.encoder.hidden_size=32"]
        if model == "bilstm"
        else [
            "model.encoder.d_model=32",
            "model.encoder.dim_feedforward=64",
            "model.encoder.num_heads=2",
        ]
    )
    return [
        "data=files",
        f"model={model}",
        f"paths.data_dir={tiny_dir}",
        "data.files.train=train.txt",
        "data.files.validation=dev.txt",
        "data.files.test=test.txt",
        "data.file_scheme=iob2",
        "data.train_scheme=bioes",
        "data.headline=f1",
        "data.batch_size=16",
        "model.embedding.word_dim=16",
        "model.embedding.char_dim=8",
        "model.embedding.char_filters=8",
        *small,
        "callbacks.rich_progress_bar=null",
    ]


def tiny_hf_overrides(
    tiny_dir: Path, bert_dir: Path, head: str = "linear", embedding: str = "hf"
) -> list[str]:
    """``model=hf`` on the tiny corpus, with the tiny BERT (``write_tiny_bert``) in place of
    MiniLM, and the given head and embedding (``hf``, ``hf_char``)."""
    overrides = [o for o in tiny_ner_overrides(tiny_dir) if not o.startswith("model")]
    return [
        *overrides,
        "model=hf",
        f"model/head={head}",
        f"model/embedding={embedding}",
        f"model.embedding.model_name_or_path={bert_dir}",
    ]


def run_hydra_main(
    main: Callable[[], object], argv: list[str], monkeypatch, capsys
) -> tuple[int, str]:
    """Run a Hydra entry point (``seqtagger.train.main``) in process with ``argv``; returns its
    exit code (0 when it returns) and stderr."""
    monkeypatch.setattr("sys.argv", argv)
    try:
        main()
        code = 0
    except SystemExit as exit_info:
        code = int(exit_info.code or 0)
    return code, capsys.readouterr().err


def _yield_rows(rows: list[dict]):
    yield from rows


def file_backed_dataset(folder: Path, columns: dict[str, list]) -> datasets.Dataset:
    """A ``Dataset`` written to an Arrow cache under ``folder`` (``datasets`` caches ``map`` only
    for file-backed datasets, unlike ``Dataset.from_dict``)."""
    values = zip(*columns.values(), strict=True)
    rows = [dict(zip(columns, row, strict=True)) for row in values]
    return datasets.Dataset.from_generator(
        _yield_rows, gen_kwargs={"rows": rows}, cache_dir=str(folder / "hf")
    )


def checkout_env(**extra: str) -> dict[str, str]:
    """The environment for a child process (or a SLURM job) that imports this checkout, not an
    installed seqtagger; ``tests.helpers`` is importable too."""
    path = os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "src")])
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", **extra}


class Throttle(Callback):
    """Sleep after every training batch: stretches a tiny run so that a test can signal it
    mid-training (``+callbacks.throttle._target_=tests.helpers.Throttle``)."""

    def __init__(self, seconds: float = 0.1) -> None:
        self.seconds = seconds

    def on_train_batch_end(self, *args: object) -> None:
        time.sleep(self.seconds)


class SlowCheckpointIO(AtomicCheckpointIO):
    """Write checkpoints slowly, half, a pause, then the rest, with ``<name>.writing`` beside the
    file meanwhile: a test can kill the run in the middle of a write
    (``'trainer.plugins=[{_target_:tests.helpers.SlowCheckpointIO}]'``)."""

    def __init__(self, seconds: float = 1.0) -> None:
        super().__init__()
        self.seconds = seconds

    def write_bytes(self, file, data: memoryview, target: Path) -> None:
        marker = target.with_name(f"{target.name}.writing")
        half = len(data) // 2
        file.write(data[:half])
        file.flush()
        marker.touch()
        time.sleep(self.seconds)
        file.write(data[half:])
        marker.unlink()


def run_module(
    module: str, args: list[str], cwd: Path, timeout: float = 600
) -> subprocess.CompletedProcess:
    """``python -m module args`` in a child process on this checkout's code (not an installed
    copy): how users and clusters start seqtagger, and the only way to run Lightning's DDP
    subprocess launcher, which re-runs the command line of ``__main__``."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env=checkout_env(),
        cwd=cwd,
        timeout=timeout,
    )


def start_module(
    module: str, args: list[str], cwd: Path, log: Path | None = None
) -> subprocess.Popen:
    """``python -m module args`` started in the background on this checkout's code, stdout and
    stderr piped (text), or both appended to ``log`` (a chatty run would fill a pipe nobody
    reads): for tests that signal or kill a running command."""
    streams: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    if log is not None:
        with log.open("ab") as file:  # the child keeps its own copy of the descriptor
            return subprocess.Popen(
                [sys.executable, "-m", module, *args],
                stdout=file,
                stderr=subprocess.STDOUT,
                env=checkout_env(),
                cwd=cwd,
            )
    return subprocess.Popen(
        [sys.executable, "-m", module, *args], text=True, env=checkout_env(), cwd=cwd, **streams
    )


def wait_for(condition: Callable[[], bool], process: subprocess.Popen, timeout: float) -> None:
    """Poll ``condition`` until it holds; fail if ``process`` ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the process ended first: {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"timed out waiting: {process.communicate()}")
        time.sleep(0.05)


def write_vector_store(folder: Path, words: list[str], dim: int = 8) -> Path:
    """A tiny vector store in the layout of the GloVe package (``*index.parquet`` + ``*emb.npy``,
    Fortran order) with random vectors; returns ``folder``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    vectors = np.random.default_rng(0).normal(size=(len(words), dim)).astype(np.float32)
    np.save(folder / "tiny_emb.npy", np.asfortranarray(vectors))
    pq.write_table(pa.table({"index": words}), folder / "tiny_index.parquet")
    return folder


TINY_BERT_WORDS = [
    *("the", "a", "said", "on", "in", "of", "to", "visited", "met", "with", "from", "and"),
    *("today", "report", "new", "big", "city", "paris", "oslo", "anna", "smith", "united"),
    *("nations", "corp", "cat", "sat", "york"),
]


def write_tiny_bert(folder: Path, max_positions: int = 16) -> Path:
    """A tiny random BERT in a Hugging Face folder (``config.json``, ``model.safetensors``,
    a fast WordPiece ``tokenizer.json``): hidden 16, 2 layers, 2 heads and ``max_positions``
    positions, so a sentence of a dozen subwords already needs windows. Lowercasing, like
    MiniLM's; characters and ``##`` pieces spell every word that is not in the vocabulary."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?-'")
    vocab = [*specials, *letters, *(f"##{c}" for c in letters), *TINY_BERT_WORDS]
    tokenizer = Tokenizer(models.WordPiece({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", 2), ("[SEP]", 3)],
    )
    # what a downloaded tokenizer.json may hold, and the featurizer must switch off
    tokenizer.enable_truncation(max_length=8)
    tokenizer.enable_padding(length=8, pad_id=0, pad_token="[PAD]")
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_positions,
    )
    folder.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=max_positions,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)
    return folder
