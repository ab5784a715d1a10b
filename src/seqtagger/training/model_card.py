"""``checkpoints/MODEL_CARD.md``: what a trained model is, how it was made and what it is for.

Written at the end of every training run (after the test, so the card holds the test scores;
again after a resume) beside the checkpoints it describes, from what the run knows: the corpus
and its licence (``data.corpus``'s entry in :data:`~seqtagger.data.corpora.CORPORA`, or
``data.licence``), the command (``.hydra/overrides.yaml``), the model's parts and sizes, the
data's tasks, schemes and vocabularies (the model's data record), the test scores
(``metrics.json``, overall and per type), the dev curve and wall time
(:class:`~seqtagger.training.run_record.RunRecord`) and the hardware. Metric names are read as
they come (``test/f1``, ``test/f1/LOC``, ``test/ner/f1/LOC``), so a model of several tasks gets
its card too.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from lightning import LightningDataModule, LightningModule, Trainer
from omegaconf import DictConfig, OmegaConf

import seqtagger
from seqtagger.data.corpora import CORPORA
from seqtagger.inference.outputs import open_output
from seqtagger.training.artifacts import saved_best
from seqtagger.training.best_checkpoint import BestCheckpoint
from seqtagger.training.run_record import RunRecord
from seqtagger.training.runs import CHECKPOINTS
from seqtagger.utils.machine import duration, machine_lines
from seqtagger.utils.pylogger import RankedLogger
from seqtagger.utils.targets import to_plain

log = RankedLogger(__name__, rank_zero_only=True)

CARD_FILE = "MODEL_CARD.md"
UNKNOWN = "unknown"
# a part's options that say where its files are or how fast it runs, not how large it is
NOT_SIZES = ("length_groups", "stride", "max_length")
MOST_LABELS = 60  # a tagset larger than this is shown by its first labels


def write_model_card(
    cfg: DictConfig, trainer: Trainer, model: LightningModule, datamodule: LightningDataModule
) -> Path | None:
    """Write ``MODEL_CARD.md`` into the run's checkpoint folder; None (nothing written) for a
    test-only run (``train=false``: it trained no model of its own) or one that saved none."""
    output_dir = Path(cfg.paths.output_dir)
    folder = output_dir / CHECKPOINTS
    if not cfg.get("train") or not folder.is_dir():
        return None
    path = folder / CARD_FILE
    with open_output(str(path)) as out:
        out.write(model_card(cfg, trainer, model, datamodule))
    log.info(f"Model card: <{path}>")
    return path


def model_card(
    cfg: DictConfig, trainer: Trainer, model: LightningModule, datamodule: LightningDataModule
) -> str:
    """The card's Markdown text."""
    output_dir = Path(cfg.paths.output_dir)
    data_info = getattr(model, "data_info", None)  # a module of one's own may keep none
    if not data_info and hasattr(datamodule, "data_info"):
        data_info = datamodule.data_info()
    data_info = dict(data_info or {})
    tasks = task_records(data_info)
    record = next((cb for cb in trainer.callbacks if isinstance(cb, RunRecord)), None)
    corpus, licence = corpus_and_licence(datamodule)
    sections = [
        [f"# Model card: {output_dir.name}", "", summary(cfg, tasks, corpus)],
        ["## Data", "", *data_lines(datamodule, corpus, licence, tasks, data_info)],
        ["## Command", "", *command_lines(cfg, output_dir)],
        ["## Configuration", "", *config_lines(cfg, model)],
        ["## Test metrics", "", *score_lines(output_dir / "metrics.json", tasks)],
        ["## Dev curve", "", *curve_lines(trainer, record)],
        ["## Hardware and wall time", "", *hardware_lines(trainer, record)],
        ["## Intended use and limits", "", *limits_lines(cfg, corpus, licence, tasks)],
    ]
    return "\n\n".join("\n".join(section).rstrip() for section in sections) + "\n"


# ----- the data -----
def task_records(data_info: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each task's ``name``, ``labels`` (a list), ``file_scheme``, ``train_scheme`` and
    ``headline`` (whether its metric selects checkpoints): the record's ``tasks``, or the one
    task (``tags``) of a record written before tasks (labels in ``vocabs``)."""
    keys = ("file_scheme", "train_scheme")
    if not data_info.get("tasks") and "labels" not in data_info.get("vocabs", {}):
        return []  # a model without seqtagger's data record
    records = data_info.get("tasks") or [
        {"name": "tags", "labels": data_info["vocabs"]["labels"], "headline": True}
        | {key: data_info.get(key) for key in keys}
    ]
    return [
        {
            "name": str(record.get("name")),
            "labels": label_list(record.get("labels")),
            "headline": len(records) == 1 or record.get("headline") is True,
            **{key: record.get(key) for key in keys},
        }
        for record in records
    ]


def label_list(labels: Any) -> list[str]:
    """A task's labels, from a list or a vocabulary record (its ``itos``)."""
    if isinstance(labels, Mapping):
        labels = labels.get("itos", [])
    return [str(label) for label in labels or []]


def label_types(task: Mapping[str, Any]) -> list[str]:
    """The entity types of a span task (``B-PER`` -> ``PER``), the tags of a plain one."""
    if task.get("train_scheme") in (None, "plain"):
        return list(task["labels"])
    types = (label.split("-", 1)[1] for label in task["labels"] if "-" in label)
    return sorted(set(types))


def describe_tagset(task: Mapping[str, Any]) -> str:
    """``4 entity types (LOC, MISC, ORG, PER), trained in BIOES (files in IOB1)``."""
    types = label_types(task)
    shown = ", ".join(types[:MOST_LABELS]) + (", ..." if len(types) > MOST_LABELS else "")
    plain = task.get("train_scheme") in (None, "plain")
    kind = f"{len(types)} {'tag' if plain else 'entity type'}{'' if len(types) == 1 else 's'}"
    schemes = f"trained in {str(task.get('train_scheme')).upper()}"
    if task.get("file_scheme") != task.get("train_scheme"):
        schemes += f" (files in {str(task.get('file_scheme')).upper()})"
    return f"{kind} ({shown}), {schemes}"


def corpus_and_licence(datamodule: LightningDataModule) -> tuple[str, str]:
    """The corpus' name (a named corpus, a hub dataset or the training file) and the licence of
    its data: ``data.licence``, else the named corpus', else ``unknown``."""
    corpus = getattr(datamodule, "corpus", None)
    files = getattr(datamodule, "files", None) or {}
    hub = getattr(getattr(datamodule, "reader", None), "name", None)
    name = corpus or (f"{hub} (Hugging Face hub)" if hub else str(files.get("train", UNKNOWN)))
    named = CORPORA[corpus].license if corpus in CORPORA else None
    return name, getattr(datamodule, "licence", None) or named or UNKNOWN


def data_lines(
    datamodule: LightningDataModule,
    corpus: str,
    licence: str,
    tasks: list[dict[str, Any]],
    data_info: Mapping[str, Any],
) -> list[str]:
    files = getattr(datamodule, "files", None) or {}
    lines = [f"- Corpus: `{corpus}`"]
    lines += [f"  - {split}: `{name}`" for split, name in files.items() if name is not None]
    lines.append(f"- Licence: {licence}")
    for task in tasks:
        lines.append(
            f"- Task `{task['name']}`: {describe_tagset(task)}; {len(task['labels'])} labels"
        )
    headline = next((task["name"] for task in tasks if task["headline"]), None)
    if headline is not None:
        lines.append(f"- Headline metric: {data_info.get('headline')} of task `{headline}`")
    words = data_info.get("vocabs", {})  # words and characters (a record's labels before tasks)
    sizes = ", ".join(f"{name} {len(label_list(vocab)):,}" for name, vocab in words.items())
    lines.append(f"- Vocabularies: {sizes}")
    return lines


def summary(cfg: DictConfig, tasks: list[dict[str, Any]], corpus: str) -> str:
    parts = [short(p[1]) for p in model_parts(to_plain(cfg.model))]
    layers = " and ".join(f"`{task['name']}`" for task in tasks)
    return (
        f"A sequence tagger ({' -> '.join(parts)}) for {layers}, trained with seqtagger "
        f"{seqtagger.__version__} on `{corpus}`. Written by seqtagger-train at the end of the run."
    )


# ----- the command and the configuration -----
def command_lines(cfg: DictConfig, output_dir: Path) -> list[str]:
    """The command as run: Hydra's record of its overrides (or the running job's)."""
    overrides = run_overrides(output_dir)
    if overrides is None:
        return [
            "Not recorded: the run was started from Python, not by seqtagger-train. Its "
            "resolved config is `config.yaml` in the run folder."
        ]
    lines = ["```", shlex.join(["seqtagger-train", *overrides]), "```"]
    if cfg.get("ckpt_path") is not None:
        lines += [
            "",
            f"This command resumed the run (`ckpt_path={cfg.ckpt_path}`); the dev curve and "
            "the wall time include the sessions before it.",
        ]
    return lines


def run_overrides(output_dir: Path) -> list[str] | None:
    saved = output_dir / ".hydra" / "overrides.yaml"
    if saved.is_file():
        return [str(item) for item in OmegaConf.load(saved)]
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized() and HydraConfig.get().overrides.task:
        return [str(item) for item in HydraConfig.get().overrides.task]
    return None


def model_parts(
    model_cfg: Mapping[str, Any], prefix: str = ""
) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """``(part, class, options)`` for every part of the model's config (``embedding``,
    ``encoder``, ``head``, a part inside one, the heads of several tasks), the optimizer and
    scheduler left out."""
    for key, value in model_cfg.items():
        if not isinstance(value, Mapping) or (not prefix and key in ("optimizer", "scheduler")):
            continue
        if "_target_" in value:
            yield f"{prefix}{key}", str(value["_target_"]), value
        yield from model_parts(value, f"{prefix}{key}.")


def sizes(options: Mapping[str, Any]) -> str:
    """``word_dim 100, char_dim 30, from `glove.txt```: a part's integer options and the
    pretrained weights it starts from."""
    shown = [
        f"{name} {value}"
        for name, value in options.items()
        if isinstance(value, int) and not isinstance(value, bool) and name not in NOT_SIZES
    ]
    source = pretrained(options)
    return ", ".join([*shown, f"from `{source}`"] if source else shown)


def pretrained(options: Mapping[str, Any]) -> str | None:
    """The pretrained model or vectors file a part starts from, if any."""
    return options.get("model_name_or_path") or options.get("pretrained") or options.get("vectors")


def short(target: str) -> str:
    return target.rsplit(".", 1)[-1]


def config_lines(cfg: DictConfig, model: LightningModule) -> list[str]:
    model_cfg = to_plain(cfg.model)
    lines = ["| part | class | sizes |", "| --- | --- | --- |"]
    lines += [
        f"| {part} | `{target}` | {sizes(options)} |"
        for part, target, options in model_parts(model_cfg)
    ]
    optimizer = model_cfg.get("optimizer") or {}
    scheduler = model_cfg.get("scheduler") or {}
    total = sum(p.numel() for p in model.parameters())
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    data, trainer = cfg.data, cfg.trainer
    return [
        *lines,
        "",
        f"- Parameters: {total:,} ({trained:,} trained)",
        f"- Optimizer: `{optimizer.get('_target_')}`, lr {optimizer.get('lr')}; scheduler: "
        f"`{scheduler.get('_target_') if isinstance(scheduler, Mapping) else scheduler}`",
        f"- Batches of {data.get('batch_size')} {data.get('batch_unit', 'sentences')}; at most "
        f"{trainer.get('max_epochs')} epochs; precision {trainer.get('precision')}; seed "
        f"{cfg.get('seed')}",
    ]


# ----- the scores -----
def score_lines(metrics_file: Path, tasks: list[dict[str, Any]]) -> list[str]:
    """The test scores of ``metrics.json``: overall, then per type or tag (a name that ends in
    one of the tasks' types or labels: ``test/f1/LOC``, ``test/ner/recall/PER``)."""
    metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.is_file() else {}
    tested = {name: value for name, value in metrics.items() if name.startswith("test/")}
    if not tested:
        return ["No test scores: the run was made with test=false, or its data has no test split."]
    known = {t for task in tasks for t in (*label_types(task), *task["labels"])}
    overall = {n: v for n, v in tested.items() if n.split("/")[-1] not in known}
    lines = ["| metric | value |", "| --- | --- |"]
    lines += [f"| {name} | {value:.4f} |" for name, value in sorted(overall.items())]
    per_type: dict[str, dict[str, float]] = {}
    for name, value in tested.items():
        parts = name.split("/")
        if parts[-1] in known and len(parts) >= 3:
            row = "/".join([*parts[1:-2], parts[-1]])  # the task (if any) and the type
            per_type.setdefault(row, {})[parts[-2]] = value
    if per_type:
        columns = sorted({column for row in per_type.values() for column in row})
        lines += [
            "",
            "Per type:",
            "",
            f"| type | {' | '.join(columns)} |",
            f"| --- |{' --- |' * len(columns)}",
        ]
        for row, values in sorted(per_type.items()):
            cells = [f"{values[c]:.4f}" if c in values else "" for c in columns]
            lines.append(f"| {row} | {' | '.join(cells)} |")
    return lines


def monitored(trainer: Trainer) -> tuple[str | None, str]:
    """The metric (and mode) that chose the best checkpoint."""
    for callback in trainer.checkpoint_callbacks:
        if getattr(callback, "monitor", None):
            return callback.monitor, getattr(callback, "mode", "max")
    return None, "max"


def curve_lines(trainer: Trainer, record: RunRecord | None) -> list[str]:
    """One row per validation of the fit; the best value of the monitored metric in bold."""
    if record is None or not record.curve:
        return ["Not recorded (the run's callbacks leave out `run_record`)."]
    monitor, mode = monitored(trainer)
    names = sorted({n for point in record.curve for n in point if n.startswith("val/")})
    if monitor in names:
        names = [monitor, *(n for n in names if n != monitor)]
    scored = [i for i, point in enumerate(record.curve) if monitor in point]
    pick = max if mode == "max" else min
    best = pick(scored, key=lambda i: record.curve[i][monitor]) if scored else None  # first
    lines = []
    if best is not None:
        lines += [best_line(trainer, monitor, record.curve[best]), ""]
    lines += [f"| epoch | step | {' | '.join(names)} |", f"| --- | --- |{' --- |' * len(names)}"]
    for i, point in enumerate(record.curve):
        cells = [f"{point[n]:.4f}" if n in point else "" for n in names]
        if i == best:
            cells[0] = f"**{cells[0]}**"
        lines.append(f"| {point['epoch']} | {point['step']} | {' | '.join(cells)} |")
    return lines


def best_line(trainer: Trainer, monitor: str, point: Mapping[str, float]) -> str:
    """``Best: epoch 7 (val/f1 0.9012), checkpoints/best.ckpt -> epoch_006.ckpt``."""
    line = f"Best: epoch {point['epoch']} ({monitor} {point[monitor]:.4f})"
    best = saved_best(trainer)
    linker = next((cb for cb in trainer.callbacks if isinstance(cb, BestCheckpoint)), None)
    if best and linker is not None and linker.dirpath:
        link = Path(linker.dirpath) / linker.link_name
        shown = f"`{link.name}` -> `{Path(best).name}`" if link.is_symlink() else f"`{link.name}`"
        return f"{line}, the checkpoint {shown}."
    return f"{line}, the checkpoint `{Path(best).name}`." if best else f"{line}."


# ----- where it ran, what it is for -----
def hardware_lines(trainer: Trainer, record: RunRecord | None) -> list[str]:
    if record is None:
        return machine_lines(trainer)
    if record.earlier_s > 0:
        spent = (
            f"{duration(record.seconds())}: {duration(record.session_s())} this command, the "
            "rest the sessions it resumed (up to their last checkpoint)"
        )
    else:
        spent = f"{duration(record.session_s())} (reading the data, fit, test)"
    return [f"- Wall time: {spent}", *machine_lines(trainer)]


def limits_lines(
    cfg: DictConfig, corpus: str, licence: str, tasks: list[dict[str, Any]]
) -> list[str]:
    """Generic, honest text: what the model was trained on, what it can and cannot do."""
    tagsets = "; ".join(f"`{task['name']}`: {describe_tagset(task)}" for task in tasks)
    tagsets = tagsets or "not recorded (the model keeps no seqtagger data record)"
    if licence == UNKNOWN:
        terms = (
            "the licence of the training data is unknown: find out the data's terms before you "
            "share or deploy the model."
        )
    else:
        terms = f"the training data's licence is {licence}; its terms may restrict how the "
        terms += "model may be used or shared."
    parts = model_parts(to_plain(cfg.model))
    sources = [source for *_, options in parts if (source := pretrained(options))]
    if sources:
        terms += f" Pretrained parts ({', '.join(f'`{s}`' for s in sources)}) bring their own "
        terms += "training data and terms."
    return [
        f"- Intended use: tagging text like `{corpus}`'s (its language, domain, genre, period "
        "and tokenisation) with its tagset, for research and as a baseline.",
        f"- Tagset: {tagsets}. The model predicts these labels only; anything outside the "
        "tagset is forced onto one of them.",
        "- Limits: the test scores above hold for this corpus' test split. On other domains, "
        "genres, time periods or spelling expect lower scores; measure on your own data "
        "(`seqtagger-eval ckpt_path=...`) before relying on it. Biases in the corpus (whose "
        "names, places and language it holds) carry over into the predictions.",
        f"- Licence: {terms}",
    ]
