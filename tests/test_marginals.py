"""Token confidences: the heads' marginals (CRF forward-backward against brute force, softmax)
and the temperature, which changes the marginals but never the decoded tags."""

from __future__ import annotations

import itertools

import pytest
import torch

from seqtagger.models.heads import LinearHead
from tests.test_crf import BIOES, IOB2, masked_batch, path_score, random_head

SCHEMES = [(IOB2, "iob2"), (BIOES, "bioes"), (IOB2, "iob1")]


def brute_force_marginals(head, emissions: torch.Tensor, length: int) -> torch.Tensor:
    """``(length, C)``: each tag's probability at each position, summed over every tag path."""
    num_labels = emissions.shape[-1]
    paths = list(itertools.product(range(num_labels), repeat=length))
    weights = torch.stack([path_score(head, emissions, path) for path in paths]).softmax(0)
    marginals = torch.zeros(length, num_labels, dtype=emissions.dtype)
    for weight, path in zip(weights, paths, strict=True):
        marginals[torch.arange(length), torch.tensor(path)] += weight
    return marginals


@pytest.mark.parametrize(("labels", "scheme"), SCHEMES)
@pytest.mark.parametrize("seed", [0, 1])
def test_crf_marginals_equal_brute_force_with_padding(labels, scheme, seed) -> None:
    head = random_head(labels, scheme, seed=seed).double()
    lengths = [4, 2, 1, 3]
    emissions, mask = masked_batch(lengths, len(labels), seed=seed + 10)
    marginals = head.marginals(emissions, mask)
    assert marginals.shape == emissions.shape and marginals.dtype == torch.float64
    for row, length in enumerate(lengths):
        expected = brute_force_marginals(head, emissions[row], length)
        assert torch.allclose(marginals[row, :length], expected, atol=1e-6, rtol=0)
        assert (marginals[row, length:] == 0).all()
    assert torch.allclose(marginals.sum(-1), mask.double(), atol=1e-6)


@pytest.mark.parametrize(("labels", "scheme"), SCHEMES)
def test_crf_marginals_of_forbidden_tags_are_zero(labels, scheme) -> None:
    """A tag that cannot start a sentence has probability 0 at its first token, as in Viterbi."""
    head = random_head(labels, scheme, seed=3).double()
    emissions, mask = masked_batch([3], len(labels), seed=4)
    first = head.marginals(emissions * 10, mask)[0, 0]
    assert (first[~head.allowed_start] == 0).all()


@pytest.mark.parametrize(("labels", "scheme"), SCHEMES)
def test_crf_temperature_divides_every_score(labels, scheme) -> None:
    """Scores divided by T: the marginals equal those of a head whose parameters and emissions
    are divided by T (``decode`` takes no temperature: the tags never change)."""
    head = random_head(labels, scheme, seed=5).double()
    emissions, mask = masked_batch([5, 3], len(labels), seed=6)
    scaled = random_head(labels, scheme, seed=5).double()
    with torch.no_grad():
        for parameter in (scaled.transitions, scaled.start, scaled.end):
            parameter.div_(2.5)
    hot = head.marginals(emissions, mask, temperature=2.5)
    assert torch.allclose(hot, scaled.marginals(emissions / 2.5, mask), atol=1e-9)
    assert not torch.allclose(hot, head.marginals(emissions, mask), atol=1e-3)


def test_crf_viterbi_tags_can_differ_from_the_marginals_argmax() -> None:
    """Why the returned tags stay Viterbi's: the tag with the largest marginal at each token can
    disagree with the best path. Found by search over random cases; the probability reported for
    a token is the marginal of Viterbi's tag."""
    head = random_head(IOB2, "iob2", seed=7).double()
    differs = 0
    for seed in range(40):
        emissions, mask = masked_batch([4], len(IOB2), seed=100 + seed)
        best = head.decode(emissions, mask)[0]
        marginals = head.marginals(emissions, mask)[0]
        differs += int((marginals.argmax(-1) != best).any())
        assert (marginals.gather(1, best[:, None]) > 0).all()
    assert differs > 0


def test_crf_marginals_in_fp32_under_bf16_autocast() -> None:
    head = random_head(IOB2, "iob2", seed=8)
    emissions, mask = masked_batch([3, 2], len(IOB2), seed=9)
    reference = head.marginals(emissions.float(), mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        marginals = head.marginals(emissions.bfloat16(), mask)
    assert marginals.dtype == torch.float32
    assert torch.allclose(marginals, reference, atol=0.05)


def test_linear_head_marginals_are_the_softmax_with_temperature() -> None:
    head = LinearHead(4, len(IOB2), labels=IOB2, scheme="iob2")
    logits, mask = masked_batch([3, 1], len(IOB2), seed=11)
    marginals = head.marginals(logits, mask, temperature=2.0)
    assert torch.allclose(marginals[0], (logits[0] / 2.0).softmax(-1))
    assert torch.allclose(marginals[1, 0], (logits[1, 0] / 2.0).softmax(-1))
    assert (marginals[1, 1:] == 0).all()
    assert torch.equal(marginals.argmax(-1)[mask], head.decode(logits, mask)[mask])
