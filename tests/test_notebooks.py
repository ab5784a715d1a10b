"""The notebooks run, top to bottom, in a fresh ``python3`` kernel (nbclient) on this checkout:
the quickstart trains a tiny model, the loss notebook needs nothing, the error analysis reads
a tiny checkpoint and dev file. Committed notebooks carry no outputs."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, checkout_env, tiny_ner_overrides

nbformat = pytest.importorskip("nbformat", reason='pip install -e ".[notebooks]"')
nbclient = pytest.importorskip("nbclient", reason='pip install -e ".[notebooks]"')

NOTEBOOKS = REPO_ROOT / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))


def execute(name: str, cwd: Path, **env: str) -> str:
    """Run ``notebooks/<name>`` in ``cwd`` with ``env`` added; return its text outputs, joined.
    A failing cell fails the test with the cell's traceback (``CellExecutionError``)."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        notebook, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(cwd)}}
    )
    client.execute(env=checkout_env(**env))
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            texts += [value for key, value in output.get("data", {}).items() if "text" in key]
    return "\n".join(texts)


def test_notebooks_are_committed_without_outputs() -> None:
    """Outputs (images, absolute paths, timings) stay out of git: strip them before committing
    (``jupyter nbconvert --clear-output --inplace notebooks/*.ipynb``)."""
    assert {path.name for path in PATHS} >= {
        "quickstart.ipynb",
        "01_logits_targets_and_loss.ipynb",
        "02_error_analysis.ipynb",
    }
    for path in PATHS:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        assert notebook.metadata.kernelspec.name == "python3", path.name
        for number, cell in enumerate(notebook.cells):
            if cell.cell_type == "code":
                where = f"{path.name}, cell {number}"
                assert cell.outputs == [] and cell.execution_count is None, where


def test_quickstart_trains_tags_and_evaluates(tiny_ner_dir: Path, tmp_path: Path) -> None:
    overrides = [*tiny_ner_overrides(tiny_ner_dir), "trainer.max_epochs=1", "trainer.devices=1"]
    overrides += ["trainer.accelerator=cpu", "+trainer.enable_progress_bar=false"]
    output = tmp_path / "run"
    text = execute(
        "quickstart.ipynb",
        tmp_path,
        SEQTAGGER_NB_OUTPUT=str(output),
        SEQTAGGER_NB_OVERRIDES=shlex.join(overrides),
    )
    assert "'test/f1'" in text and "EU/" in text and "## conlleval" in text
    assert (output / "checkpoints" / "last.ckpt").is_file()
    assert (output / "eval" / "test" / "confusion.png").is_file()


def test_loss_notebook_shows_the_contract_and_the_three_mistakes(tmp_path: Path) -> None:
    text = execute("01_logits_targets_and_loss.ipynb", tmp_path)
    assert "logits look transposed: received shape (2, 4, 5)" in text
    assert "the transposed gradient reaches other logits: True" in text
    assert "received probabilities, not logits" in text
    assert "targets contain values outside [0, 5)" in text and "[-1, 5]" in text
    assert "same memory, no copy: True" in text and "(N*L, C) ms" in text


def test_error_analysis_notebook_reads_a_checkpoint_and_a_dev_set(
    tiny_checkpoint: Path, tiny_ner_dir: Path, tmp_path: Path
) -> None:
    text = execute(
        "02_error_analysis.ipynb",
        tmp_path,
        SEQTAGGER_NB_CHECKPOINT=str(tiny_checkpoint),
        SEQTAGGER_NB_DEV=str(tiny_ner_dir / "dev.txt"),
    )
    assert "# dev: 40 sentences, scheme iob2" in text and "## conlleval" in text
    assert "predicted" in text and "share" in text  # the confusion table, the confused pairs
    assert "| token | gold | pred |" in text  # the worst sentences, side by side
