"""Tests for the (N, C, L) loss contract in seqtagger.models.loss."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from seqtagger.models import loss as loss_module
from seqtagger.models.loss import (
    IGNORE_INDEX,
    LossContractError,
    check_logits_layout,
    check_targets,
    flatten_logits,
    sequence_cross_entropy,
)


@pytest.fixture(autouse=True)
def fresh_probability_check(monkeypatch):
    """Each test starts as the first call of the process for the one-time "warn" check."""
    monkeypatch.setattr(loss_module, "_probability_check_done", False)


def make_batch(n: int, length: int, c: int, seed: int, *, empty_rows: int = 0):
    """Head-like logits (N, L, C) and padded targets (N, L) with random lengths."""
    g = torch.Generator().manual_seed(seed)
    logits_nlc = torch.randn(n, length, c, generator=g) * 3
    targets = torch.randint(0, c, (n, length), generator=g)
    lengths = torch.randint(1, length + 1, (n,), generator=g)
    lengths[:empty_rows] = 0  # whole sentences of padding
    padded = torch.arange(length).unsqueeze(0) >= lengths.unsqueeze(1)
    targets[padded] = IGNORE_INDEX
    return logits_nlc, targets


@pytest.mark.parametrize(
    ("n", "length", "c", "empty_rows", "smoothing"),
    [
        (4, 7, 9, 0, 0.0),
        (4, 7, 9, 2, 0.1),
        (1, 1, 2, 0, 0.0),
        (3, 13, 5, 1, 0.0),
        (5, 6, 17, 3, 0.1),
        (2, 30, 50, 0, 0.1),
    ],
)
def test_value_and_gradient_match_f_cross_entropy(n, length, c, empty_rows, smoothing):
    logits_nlc, targets = make_batch(n, length, c, seed=n * 100 + c, empty_rows=empty_rows)
    ours_leaf = logits_nlc.clone().requires_grad_(True)
    ref_leaf = logits_nlc.clone().requires_grad_(True)

    ours = sequence_cross_entropy(
        ours_leaf.permute(0, 2, 1), targets, num_classes=c, label_smoothing=smoothing
    )
    ref = F.cross_entropy(
        ref_leaf.permute(0, 2, 1), targets, ignore_index=-100, label_smoothing=smoothing
    )
    ours.backward()
    ref.backward()

    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(ours_leaf.grad, ref_leaf.grad)
    assert not ours_leaf.grad[targets == IGNORE_INDEX].any()


def test_mean_over_real_tokens_not_over_sentences():
    logits = torch.zeros(2, 3, 4)  # (N, C, L): uniform scores, per-token loss log(3)
    targets = torch.tensor([[0, -100, -100, -100], [1, 2, 0, 1]])
    per_token = sequence_cross_entropy(logits, targets)
    torch.testing.assert_close(per_token, torch.log(torch.tensor(3.0)))


def test_batch_without_real_token_is_nan_like_f_cross_entropy():
    logits = torch.randn(2, 3, 4)
    targets = torch.full((2, 4), IGNORE_INDEX)
    ours = sequence_cross_entropy(logits, targets, num_classes=3)
    ref = F.cross_entropy(logits, targets)
    assert torch.isnan(ours) and torch.isnan(ref)


def test_transposed_layout_error_shows_both_shapes_and_the_permute():
    logits_nlc, targets = make_batch(2, 7, 9, seed=0)
    with pytest.raises(LossContractError) as info:
        sequence_cross_entropy(logits_nlc, targets, num_classes=9)
    message = str(info.value)
    assert "(2, 7, 9)" in message  # received (N, L, C)
    assert "(2, 9, 7)" in message  # expected (N, C, L)
    assert "logits.permute(0, 2, 1)" in message


def test_transposed_layout_hinted_by_target_shape_without_num_classes():
    logits_nlc, targets = make_batch(2, 7, 9, seed=0)
    with pytest.raises(LossContractError, match=r"permute\(0, 2, 1\)") as info:
        sequence_cross_entropy(logits_nlc, targets)
    assert "(2, 7)" in str(info.value)


def test_length_equal_to_classes_cannot_be_flagged():
    """L == C: both layouts have the same shape; documented as undecidable, so not flagged."""
    logits, targets = make_batch(2, 9, 9, seed=1)
    check_logits_layout(logits, 9)
    value = sequence_cross_entropy(logits, targets, num_classes=9)
    assert torch.isfinite(value)
    assert "L happens to equal C" in check_logits_layout.__doc__


def test_wrong_number_of_classes():
    with pytest.raises(LossContractError, match="num_classes=5 on dimension 1"):
        check_logits_layout(torch.randn(2, 4, 6), 5)


@pytest.mark.parametrize(
    ("logits", "match"),
    [
        (torch.randn(6, 9), "3-D"),
        (torch.randint(0, 3, (2, 9, 4)), "floating-point"),
    ],
)
def test_malformed_logits(logits, match):
    with pytest.raises(LossContractError, match=match):
        sequence_cross_entropy(logits, torch.zeros(2, 4, dtype=torch.long))


def test_non_integer_targets():
    logits = torch.randn(2, 9, 4)
    with pytest.raises(LossContractError, match=r"integer.*torch\.float32"):
        sequence_cross_entropy(logits, torch.zeros(2, 4), num_classes=9)
    with pytest.raises(LossContractError, match="integer"):
        sequence_cross_entropy(logits, torch.zeros(2, 4, dtype=torch.bool), num_classes=9)


def test_int32_targets_are_accepted():
    logits, targets = make_batch(2, 4, 9, seed=2)
    logits = logits.permute(0, 2, 1)
    expected = F.cross_entropy(logits, targets)
    torch.testing.assert_close(sequence_cross_entropy(logits, targets.int()), expected)


@pytest.mark.parametrize("bad_shape", [(2, 5), (3, 4), (2, 4, 1), (8,)])
def test_wrong_target_shape(bad_shape):
    logits = torch.randn(2, 9, 4)
    targets = torch.zeros(bad_shape, dtype=torch.long)
    with pytest.raises(LossContractError, match="targets") as info:
        sequence_cross_entropy(logits, targets, num_classes=9)
    assert str(bad_shape) in str(info.value)


@pytest.mark.parametrize("bad_value", [9, -1, 100])
def test_out_of_range_targets(bad_value):
    logits = torch.randn(2, 9, 4)
    targets = torch.tensor([[0, 1, 2, -100], [3, 4, bad_value, -100]])
    with pytest.raises(LossContractError) as info:
        sequence_cross_entropy(logits, targets, num_classes=9)
    message = str(info.value)
    assert f"[{bad_value}]" in message
    assert "(1, 2)" in message
    assert "label vocab" in message
    assert "[0, 9)" in message


def test_check_targets_lists_first_positions_and_counts_the_rest():
    targets = torch.full((3, 4), 7)
    with pytest.raises(LossContractError) as info:
        check_targets(targets, 5, shape=(3, 4))
    message = str(info.value)
    assert "(0, 0), (0, 1), (0, 2), (0, 3), (1, 0) and 7 more" in message


def test_check_targets_accepts_padding_and_custom_ignore_index():
    check_targets(torch.tensor([[0, 4, -100]]), 5)
    check_targets(torch.tensor([[0, 4, -1]]), 5, ignore_index=-1)
    with pytest.raises(LossContractError, match="shape"):
        check_targets(torch.tensor([[0, 4, -100]]), 5, shape=(1, 4))


def test_probabilities_raise_in_error_mode_every_call():
    logits, targets = make_batch(2, 5, 9, seed=3)
    probs = logits.softmax(-1).permute(0, 2, 1)
    for _ in range(2):
        with pytest.raises(LossContractError, match="log_softmax"):
            sequence_cross_entropy(probs, targets, probability_check="error")
    sequence_cross_entropy(logits.permute(0, 2, 1), targets, probability_check="error")


def test_probabilities_ignore_padding_positions():
    """Padding positions may hold anything; only real positions decide."""
    logits, targets = make_batch(2, 5, 9, seed=4, empty_rows=1)
    probs = logits.softmax(-1)
    probs[targets == IGNORE_INDEX] = -7.0
    with pytest.raises(LossContractError):
        sequence_cross_entropy(probs.permute(0, 2, 1), targets, probability_check="error")


def test_probabilities_warn_once_only():
    logits, targets = make_batch(2, 5, 9, seed=5)
    probs = logits.softmax(-1).permute(0, 2, 1)
    with pytest.warns(UserWarning, match="log_softmax"):
        sequence_cross_entropy(probs, targets)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sequence_cross_entropy(probs, targets)  # second call: no check, no warning


def test_warn_mode_checks_only_the_first_call():
    logits, targets = make_batch(2, 5, 9, seed=6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sequence_cross_entropy(logits.permute(0, 2, 1), targets)  # first call: real logits
        probs = logits.softmax(-1).permute(0, 2, 1)
        sequence_cross_entropy(probs, targets)  # later calls are not checked
        sequence_cross_entropy(probs, targets, probability_check="off")


def test_unknown_probability_check_mode():
    logits, targets = make_batch(1, 3, 4, seed=7)
    with pytest.raises(ValueError, match="probability_check"):
        sequence_cross_entropy(logits.permute(0, 2, 1), targets, probability_check="loud")


def test_permuted_view_flattens_without_copy():
    logits_nlc = torch.randn(3, 5, 7)
    flat = flatten_logits(logits_nlc.permute(0, 2, 1))
    assert flat.shape == (15, 7)
    assert flat.data_ptr() == logits_nlc.data_ptr()
    assert flat._base is logits_nlc  # a view of the head output's memory
    torch.testing.assert_close(flat, logits_nlc.reshape(15, 7))


def test_contiguous_ncl_still_flattens_correctly():
    logits_ncl = torch.randn(3, 7, 5)  # genuinely (N, C, L) memory: a copy is unavoidable
    flat = flatten_logits(logits_ncl)
    torch.testing.assert_close(flat[1 * 5 + 2], logits_ncl[1, :, 2])
