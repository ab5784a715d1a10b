"""Model options are checked when the model is configured, each refusal naming its key: a
dropout that is not a probability, a size below 1, an optimizer setting torch refuses, and a key
that no part of the model takes (``+model.encoder.hiden_size=256``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from seqtagger.errors import ConfigError
from seqtagger.lightning_module import TaggerModule
from seqtagger.models.options import check_model_options
from tests.helpers import tiny_ner_overrides
from tests.reliability.test_bad_input import assert_one_line, train_cli
from tests.test_optim import GROUPED

EMBEDDING = {
    "_target_": "seqtagger.models.embeddings.TokenEmbedder",
    "word_dim": 8,
    "char_dim": 4,
    "char_filters": 4,
    "dropout": 0.33,
    "locked_dropout": False,
}
ENCODER = {"_target_": "seqtagger.models.encoders.BiLSTMEncoder", "hidden_size": 8, "dropout": 0.1}
HEAD = {"_target_": "seqtagger.models.crf.CRFHead", "dropout": 0.33, "locked_dropout": True}
OPTIMIZER = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.002, "weight_decay": 0.0}
TRANSFORMER = {"_target_": "seqtagger.models.encoders.TransformerEncoder", "d_model": 8}


def module(**changes: dict[str, Any]) -> TaggerModule:
    """A ``TaggerModule`` of the part configs above, each updated by its ``changes`` (replaced
    by them when they name a ``_target_``)."""
    parts = {"embedding": EMBEDDING, "encoder": ENCODER, "head": HEAD, "optimizer": OPTIMIZER}
    for part, change in changes.items():
        parts[part] = change if "_target_" in change else {**parts[part], **change}
    return TaggerModule(**parts)


def test_valid_options_pass() -> None:
    module()
    module(encoder=TRANSFORMER, optimizer=GROUPED)
    check_model_options({"embedding": EMBEDDING, "memory": None, "scheduler": None})


@pytest.mark.parametrize(
    ("part", "key", "value"),
    [
        ("head", "dropout", 1.5),
        ("embedding", "dropout", -0.1),
        ("embedding", "word_dropout", 1.0),
        ("encoder", "dropout", 2),
        ("head", "dropout", "high"),
    ],
)
def test_dropout_outside_zero_to_one_names_the_key(part: str, key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=rf"^model\.{part}\.{key}={value}: expected a probab"):
        module(**{part: {key: value}})


@pytest.mark.parametrize(
    ("part", "changes", "key"),
    [
        ("encoder", {"num_layers": 0}, "num_layers=0"),
        ("encoder", {"hidden_size": -2}, "hidden_size=-2"),
        (
            "encoder",
            {**TRANSFORMER, "positions": "learned", "max_positions": -1},
            "max_positions=-1",
        ),
        ("encoder", {**TRANSFORMER, "num_heads": 2.5}, "num_heads=2.5"),
    ],
)
def test_sizes_below_one_name_the_key(part: str, changes: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"^model\.{part}\.{key}: expected an integer >= 1"):
        module(**{part: changes})


@pytest.mark.parametrize(
    ("optimizer", "message"),
    [
        ({"lr": -1}, "model.optimizer.lr=-1: expected a number > 0"),
        ({"lr": 0}, "model.optimizer.lr=0: expected a number > 0"),
        ({"weight_decay": -0.1}, "model.optimizer.weight_decay=-0.1: expected a number >= 0"),
        ({**GROUPED, "groups": [{"prefix": "head.", "lr": -5}]}, "groups.0.lr=-5: expected"),
    ],
)
def test_optimizer_settings_torch_refuses_name_the_key(optimizer: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        module(optimizer=optimizer)


@pytest.mark.parametrize(
    ("part", "key", "message"),
    [
        ("encoder", "hiden_size", "BiLSTMEncoder has no option 'hiden_size' (did you mean hidden_"),
        ("head", "foo", "CRFHead has no option 'foo' (its options: constrained, dropout, locked"),
        ("embedding", "char_filter", "did you mean char_filters?"),
        ("optimizer", "betas2", "Adam has no option 'betas2'"),
    ],
)
def test_a_key_no_part_takes_names_it(part: str, key: str, message: str) -> None:
    """``+model.encoder.hiden_size=256`` failed as a TypeError while the model was assembled;
    a head's options are followed through its base classes' ``**options``."""
    with pytest.raises(ConfigError) as raised:
        module(**{part: {key: 256}})
    assert str(raised.value).startswith(f"model.{part}.{key}=256: ")
    assert message in str(raised.value)


def test_nested_embedder_config_is_checked_under_its_key() -> None:
    extra = {**EMBEDDING, "dropout": 3.0}
    with pytest.raises(ConfigError, match=r"^model\.embedding\.extra\.dropout=3\.0: "):
        check_model_options({"embedding": {"_target_": "x.Y", "extra": extra}})


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.head.dropout=1.5", "model.head.dropout=1.5: expected a probability in [0, 1)"),
        ("model.encoder.num_layers=0", "model.encoder.num_layers=0: expected an integer >= 1"),
        ("model.optimizer.lr=-1", "model.optimizer.lr=-1: expected a number > 0"),
        ("+model.encoder.hiden_size=256", "model.encoder.hiden_size=256: "),
        ("+model.head.foo=1", "model.head.foo=1: seqtagger.models.heads.LinearHead has no"),
    ],
)
def test_bad_model_options_end_in_one_line_at_start_up(
    override: str, message: str, tiny_ner_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    """Each ended in a traceback and exit code 1, some only at the first step."""
    args = [*tiny_ner_overrides(tiny_ner_dir), override]
    code, err = train_cli(args, tmp_path, monkeypatch, capsys)
    assert_one_line(code, err, "seqtagger-train", message)
    assert "Data <" not in err  # refused before the corpus was read
