"""A quiet console: no config tree unless asked, no library small print, and a run that ends by
naming its test metrics, folder and best checkpoint."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest

from seqtagger.utils.console import LIGHTNING_INFO_LOGGER, quiet_known_noise
from tests.helpers import tiny_ner_overrides

# a config tree printed on the console starts with this line
TREE_ROOT = "CONFIG"


def first_epoch_line(lines: list[str]) -> int:
    """The index of the first ``epoch 1/N:`` summary line."""
    return next(index for index, line in enumerate(lines) if "epoch 1/" in line)


def test_a_default_run_is_quiet_and_ends_with_its_summary(
    tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """No config tree, fewer than 40 lines before the first epoch line, and the last lines name
    the test metrics, the run folder and its best checkpoint; the config is in the folder."""
    from seqtagger.train import main

    run_dir = tmp_path / "run"
    argv = ["seqtagger-train", *tiny_ner_overrides(tiny_ner_dir), "trainer.max_epochs=1"]
    argv += ["trainer.accelerator=cpu", f"hydra.run.dir={run_dir}"]
    monkeypatch.setattr("sys.argv", argv)
    main()
    shown = capsys.readouterr()  # the log lines (on stdout) and Lightning's (on stderr)
    # a progress bar redraws itself after "\r": one line on the console
    out, err = shown.out.split("\n"), shown.err.split("\n")
    assert TREE_ROOT not in out and (run_dir / "config.yaml").is_file()
    assert first_epoch_line(out) + len(err) < 40  # stderr's lines: all, at most, came before
    log = (run_dir / "train.log").read_text(encoding="utf-8").splitlines()
    best = next((run_dir / "checkpoints").glob("epoch_*.ckpt"))
    assert log[-3].split(" - ", 1)[1].startswith("Test: test/acc ")
    assert "test/f1 " in log[-3] and "test/f1/PER" not in log[-3]
    assert log[-2].endswith(f"Run folder: {run_dir}")
    assert log[-1].endswith(f"Best checkpoint: {best}")


def test_the_config_tree_is_printed_when_asked(tmp_path: Path, monkeypatch, capsys) -> None:
    """``extras.print_config=true`` prints it (here before a refusal of a missing corpus)."""
    from seqtagger.train import main

    argv = ["seqtagger-train", "data=files", f"paths.data_dir={tmp_path}"]
    argv += ["data.files.train=absent.conll", f"hydra.run.dir={tmp_path / 'run'}"]
    printed = {}
    for flag in ([], ["extras.print_config=true"]):
        monkeypatch.setattr("sys.argv", [*argv, *flag])
        with pytest.raises(SystemExit):
            main()
        printed[bool(flag)] = TREE_ROOT in capsys.readouterr().out.splitlines()
    assert printed == {False: False, True: True}


class Collect(logging.Handler):
    """Keep the messages a logger emits."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_lightning_tips_and_a_known_deprecation_are_filtered_at_their_source() -> None:
    """Tips go, Lightning's other messages stay; the ``LeafSpec`` warning goes, others stay."""
    from torch.utils._pytree import LeafSpec

    quiet_known_noise()
    lightning_log, collect = logging.getLogger(LIGHTNING_INFO_LOGGER), Collect()
    lightning_log.addHandler(collect)
    try:
        lightning_log.info("💡 Tip: For seamless cloud logging, try installing litlogger")
        lightning_log.info("GPU available: False, used: False")
    finally:
        lightning_log.removeHandler(collect)
    assert collect.messages == ["GPU available: False, used: False"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_known_noise()  # after simplefilter, as an entry point runs it
        LeafSpec()
        warnings.warn("something else is deprecated", FutureWarning, stacklevel=1)
    assert [str(warning.message) for warning in caught] == ["something else is deprecated"]
