"""``seqtagger.utils.targets`` builds ``_target_`` configs as Hydra's ``instantiate`` does for the
keys model configs use, so a checkpoint rebuilds its model without importing Hydra."""

from __future__ import annotations

import functools

import hydra
import pytest
from omegaconf import OmegaConf

from seqtagger.utils.targets import get_object, instantiate, to_plain

HEAD = {"_target_": "seqtagger.models.heads.LinearHead", "dropout": 0.25}


def test_a_partial_takes_the_sizes_later_like_hydras():
    ours = instantiate(HEAD, _partial_=True)
    theirs = hydra.utils.instantiate(HEAD, _partial_=True)
    assert isinstance(ours, functools.partial) and ours.func is theirs.func
    assert ours.keywords == dict(theirs.keywords)
    head = ours(input_size=4, num_labels=3)
    assert head.dropout.p == 0.25


def test_nested_targets_are_built_unless_recursive_is_off():
    config = {
        "_target_": "builtins.dict",
        "inner": {"_target_": "builtins.list", "_args_": [[1, 2]]},
        "plain": {"a": [1, {"b": 2}]},
    }
    assert instantiate(config) == {"inner": [1, 2], "plain": {"a": [1, {"b": 2}]}}
    assert instantiate({**config, "_recursive_": False})["inner"] == config["inner"]


def test_an_omegaconf_node_is_built_from_plain_values():
    node = OmegaConf.create({**HEAD, "extra": {"x": "${..dropout}"}})
    assert to_plain(node) == {**HEAD, "extra": {"x": 0.25}}
    partial = instantiate(node, _partial_=True)
    assert partial.keywords["extra"] == {"x": 0.25} and type(partial.keywords["extra"]) is dict


def test_objects_are_found_by_their_dotted_path():
    assert get_object("seqtagger.models.crf.CRFHead").__name__ == "CRFHead"
    assert get_object("os.path.join") is __import__("os").path.join
    with pytest.raises(ImportError, match=r"seqtagger\.models\.heads\.NoSuchHead"):
        get_object("seqtagger.models.heads.NoSuchHead")
    with pytest.raises(ImportError, match="no_such_package"):
        get_object("no_such_package.Thing")


def test_a_config_without_a_target_is_refused():
    with pytest.raises(ValueError, match="_target_"):
        instantiate({"dropout": 0.1})
