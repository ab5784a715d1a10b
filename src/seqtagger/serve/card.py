"""``GET /model``: the model's card and a summary of what the checkpoint holds.

The card is ``MODEL_CARD.md`` in the checkpoint's folder when there is one (a training run's
own description of its model); otherwise a short Markdown page written from the summary. The
summary comes from the loaded model: each task's labels and schemes (a checkpoint of several
tasks records them in ``tasks``; an older one has one task, ``tags``), the schemes the server
answers in, the model's parts (their classes) and its size.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqtagger.checkpoint import MODEL_PARTS

if TYPE_CHECKING:
    from seqtagger.inference import Predictor

CARD_FILE = "MODEL_CARD.md"


def model_summary(predictor: Predictor, checkpoint: str | Path) -> dict[str, Any]:
    """What the server's model is: tasks, schemes, parts, size (JSON-ready)."""
    module = predictor.module
    data_info: Mapping[str, Any] = module.data_info or {}
    hparams = module.hparams
    parts = {}
    for part in MODEL_PARTS:
        config = hparams.get(part)
        target = config.get("_target_") if isinstance(config, Mapping) else config
        parts[part] = None if target is None else str(target).rsplit(".", 1)[-1]
    return {
        "checkpoint": str(checkpoint),
        "tasks": _tasks(data_info, predictor.labels),
        "output_scheme": predictor.scheme,
        "context": predictor.context,
        "reads_documents": predictor.reads_documents,
        "parts": parts,
        "parameters": sum(p.numel() for p in module.parameters()),
        "device": str(predictor.device),
    }


def _tasks(data_info: Mapping[str, Any], labels: list[str]) -> list[dict[str, Any]]:
    """Each task's name, labels, file and training schemes and headline metric."""
    keys = ("file_scheme", "train_scheme", "headline")
    records = data_info.get("tasks")
    if not records:
        return [{"name": "tags", "labels": list(labels), **{k: data_info.get(k) for k in keys}}]
    return [
        {
            "name": record.get("name"),
            "labels": _label_list(record.get("labels")),
            **{key: record.get(key) for key in keys},
        }
        for record in records
    ]


def _label_list(labels: Any) -> list[str]:
    """A task's labels, whether a list or a vocabulary record (its ``itos``)."""
    if isinstance(labels, Mapping):
        labels = labels.get("itos", [])
    return [str(label) for label in labels or []]


def model_card(checkpoint: str | Path, summary: Mapping[str, Any]) -> dict[str, Any]:
    """``GET /model``'s answer: ``card`` (Markdown), ``card_file`` (its path, or None when
    written from the summary) and ``summary``."""
    path = Path(checkpoint).parent / CARD_FILE
    if path.is_file():
        text, card_file = path.read_text(encoding="utf-8"), str(path)
    else:
        text, card_file = summary_markdown(summary), None
    return {"card": text, "card_file": card_file, "summary": dict(summary)}


def summary_markdown(summary: Mapping[str, Any]) -> str:
    """A short card written from the summary, for a checkpoint without ``MODEL_CARD.md``."""
    name = Path(summary["checkpoint"]).name
    parts = ", ".join(f"{part}: {cls}" for part, cls in summary["parts"].items() if cls)
    lines = [
        f"# {name}",
        "",
        f"No {CARD_FILE} beside the checkpoint; this summary comes from the checkpoint itself.",
        "",
        f"- Model: {parts}; {summary['parameters']:,} parameters, on {summary['device']}.",
        f"- Tags out in the {summary['output_scheme']} scheme.",
    ]
    if summary["context"]:
        lines.append(f"- Reads {summary['context']} words of context each side.")
    if summary["reads_documents"]:
        lines.append(
            "- Reads whole documents (a document memory): a text is cut into documents at its "
            "blank lines; a request of tokens is one document."
        )
    for task in summary["tasks"]:
        labels = ", ".join(task["labels"])
        lines.append(
            f"- Task `{task['name']}`: {len(task['labels'])} labels ({labels}); corpus scheme "
            f"{task['file_scheme']}, trained in {task['train_scheme']}, headline "
            f"{task['headline']}."
        )
    return "\n".join(lines) + "\n"
