"""``GET /model``: the model's card and a summary of what the checkpoint holds.

The card is ``MODEL_CARD.md`` in the checkpoint's folder when there is one (a training run's
own description of its model); otherwise a short Markdown page written from the summary. The
summary comes from the loaded :class:`~seqtagger.inference.Predictor`: each task's head, labels,
corpus and training schemes and the scheme the server answers in, which task the server tags
(the headline task, as the text API does), the headline metric, the model's parts (their
classes) and its size.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from seqtagger.inference import Predictor

CARD_FILE = "MODEL_CARD.md"
SHARED_PARTS = ("embedding", "encoder", "memory")  # each task has a head of its own


def model_summary(predictor: Predictor, checkpoint: str | Path) -> dict[str, Any]:
    """What the server's model is: tasks, schemes, parts, size (JSON-ready)."""
    model = predictor.model
    parts = {}
    for part in SHARED_PARTS:
        config = model.hparams.get(part)
        target = config.get("_target_") if isinstance(config, Mapping) else config
        parts[part] = None if target is None else str(target).rsplit(".", 1)[-1]
    tasks = [
        {
            "name": task.name,
            "head": type(model.tagger.heads[task.name]).__name__,
            "labels": list(predictor.task_labels[task.name]),
            "file_scheme": task.file_scheme,
            "train_scheme": task.train_scheme,
            "output_scheme": predictor.schemes[task.name],
            "headline": task.headline,
        }
        for task in predictor.tasks
    ]
    return {
        "checkpoint": str(checkpoint),
        "tasks": tasks,
        "served_task": predictor.task.name,
        "headline_metric": (model.data_info or {}).get("headline"),
        "context": predictor.context,
        "reads_documents": predictor.reads_documents,
        "parts": parts,
        "parameters": sum(p.numel() for p in model.tagger.parameters()),
        "device": str(predictor.device),
    }


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
        f"- Serves the tags of task `{summary['served_task']}`; headline metric "
        f"{summary['headline_metric']}.",
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
            f"- Task `{task['name']}` ({task['head']}): {len(task['labels'])} labels ({labels}); "
            "corpus scheme "
            f"{task['file_scheme']}, trained in {task['train_scheme']}, served in "
            f"{task['output_scheme']}."
        )
    return "\n".join(lines) + "\n"
