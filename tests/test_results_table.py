"""The results page and the README's table are generated from the committed runs and kept current;
``docs/results/`` has an index, and its file names say what a run is, not when it was made."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tools import results_table

RESULTS = results_table.RESULTS


def test_the_results_page_and_the_readme_table_are_what_the_committed_runs_give(capsys) -> None:
    status = results_table.main(["--check"])
    assert status == 0, capsys.readouterr().out


def test_every_recipe_has_a_row_in_the_readme_and_a_section_on_the_page() -> None:
    readme = results_table.README.read_text()
    block = readme.split(results_table.START)[1].split(results_table.END)[0]
    page = results_table.PAGE.read_text()
    recipes = [p.name for p in RESULTS.iterdir() if list(p.glob("seed*/run.json"))]
    assert len(recipes) >= 10
    for recipe in recipes:
        assert f"[`{recipe}`](docs/results.md#{recipe})" in block
        assert f"\n### {recipe}\n" in page


def test_a_changed_run_changes_the_numbers(tmp_path: Path, monkeypatch) -> None:
    """The numbers come from the files: a seed's metric moved moves the mean and the spread."""
    results = tmp_path / "results"
    shutil.copytree(RESULTS / "ud_ewt_bilstm", results / "ud_ewt_bilstm")
    metrics = results / "ud_ewt_bilstm" / "seed3" / "metrics.json"
    metrics.write_text(json.dumps({**json.loads(metrics.read_text()), "test/acc": 0.9}))
    monkeypatch.setattr(results_table, "RESULTS", results)
    found = results_table.recipes()
    block = results_table.readme_block(found)
    # seeds 1 and 2 scored 95.5607 and 95.5846: the mean with 90.00 is 93.72, the spread 3.22
    assert "accuracy 93.72 ± 3.22 (3 seeds)" in block
    assert "| 3 | 90.00 | 25 (21) |" in "\n".join(results_table.recipe_section(*found.popitem()))


def test_a_readme_without_the_results_markers_is_refused(tmp_path: Path, monkeypatch) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# seqtagger\n")
    monkeypatch.setattr(results_table, "README", readme)
    with pytest.raises(SystemExit, match="results:start"):
        results_table.with_block(readme.read_text(), "block")


def test_an_ablation_is_compared_with_its_base() -> None:
    rows = results_table.ablation_rows(RESULTS / "ablations" / "cpu_4_epochs")
    nolower = next(row for row in rows if row[0] == "ewt_nolower")
    assert nolower[1:4] == ["`data.vocab.lowercase=false`", "test/acc 92.73", "-0.51"]
    # a run may name another folder as its base: the full-schedule run against that recipe's run
    (cased,) = results_table.ablation_rows(RESULTS / "ablations" / "cpu_20_epochs")
    assert cased[1:4] == ["`data.vocab.lowercase=false`", "test/f1 84.23", "-1.07"]


def test_the_results_folders_have_an_index_and_every_ablation_is_described() -> None:
    for index in ("README.md", "ablations/README.md", "archive/README.md"):
        assert (RESULTS / index).is_file(), index
    described = (RESULTS / "ablations" / "README.md").read_text()
    for folder in (RESULTS / "ablations").iterdir():
        if folder.is_dir():
            assert f"## {folder.name}:" in described
            for run in folder.iterdir():
                assert f"`{run.name}`" in described, f"ablations/README.md: {run.name}"
    archive = (RESULTS / "archive" / "README.md").read_text()
    for folder in (RESULTS / "archive").iterdir():
        if folder.is_dir():
            assert f"`{folder.name}/`" in archive


def test_no_result_file_is_named_by_a_date_or_tells_how_work_was_organised() -> None:
    dated = [p for p in RESULTS.rglob("*") if re.search(r"\d{4}-\d{2}-\d{2}", p.name)]
    assert not dated
    for path in RESULTS.rglob("*.json"):
        text = path.read_text().lower()
        assert "session" not in text and "issue" not in text, path
