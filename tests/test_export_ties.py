"""The parity rule's ties (``seqtagger.export.ties``): the max-marginals are the best path scores
through each tag, by enumeration of every path; a tag differs "at a tie" only where those of
the two tags are within 1e-5; and the parity tallies add up (``seqtagger.export.parity``)."""

from __future__ import annotations

import itertools

import pytest
import torch

from seqtagger.export.parity import Parity
from seqtagger.export.ties import TIE, max_marginals, near_ties, tie_gaps
from seqtagger.models.crf import CRFHead
from seqtagger.models.heads import LinearHead
from tests.test_export_paths import LABELS, random_crf

PLAIN = ["A", "B", "C"]


def enumerated(head: CRFHead, logits: torch.Tensor, length: int) -> torch.Tensor:
    """``(length, C)``: the best score of every path of one sentence through each tag."""
    labels = len(head.labels)
    paths = torch.tensor(list(itertools.product(range(labels), repeat=length)))  # (P, length)
    emissions = logits[:length].double().expand(len(paths), length, labels)
    mask = torch.ones(len(paths), length, dtype=torch.bool)
    with torch.no_grad():
        scores = head.gold_score(emissions, paths, mask)  # (P,), -inf where forbidden
    best = torch.full((length, labels), float("-inf"), dtype=torch.float64)
    for t in range(length):
        best[t] = best[t].scatter_reduce(0, paths[:, t], scores, reduce="amax")
    return best


@pytest.mark.parametrize("constrained", [True, False])
def test_a_crfs_max_marginals_are_the_best_path_scores_through_each_tag(constrained) -> None:
    head = random_crf(constrained)
    logits = torch.randn(2, 5, len(LABELS)) * 2
    mask = torch.tensor([[True] * 4 + [False], [True] * 2 + [False] * 3])
    found = max_marginals(head, logits, mask)
    for row, length in enumerate((4, 2)):
        torch.testing.assert_close(found[row, :length], enumerated(head, logits[row], length))
    assert (found[1, 2:] == 0).all()  # padding
    viterbi = head.decode(logits, mask)  # its tag holds each position's best score
    best = found.gather(2, viterbi.clamp(min=0).unsqueeze(2))[..., 0]
    torch.testing.assert_close(best[mask], found.amax(dim=2)[mask])


def test_a_tag_differs_at_a_tie_only_where_both_tags_paths_score_the_same() -> None:
    head = CRFHead(3, 3, labels=PLAIN, scheme="plain").eval()  # no transition scores yet: 0
    logits = torch.tensor([[[1.0, 1.0, 0.0], [0.5, 2.0, 0.0]]])  # A and B tie at the first word
    mask = torch.ones(1, 2, dtype=torch.bool)
    marginals = max_marginals(head, logits, mask)
    expected = head.decode(logits, mask)
    assert expected.tolist() == [[0, 1]]
    gaps = tie_gaps(marginals, expected, torch.tensor([[1, 0]]))
    assert gaps[0, 0] == 0 and gaps[0, 1] == pytest.approx(1.5)
    assert near_ties(marginals, mask) == 1
    nudged = logits.clone()
    nudged[0, 0, 1] -= 2 * TIE
    assert near_ties(max_marginals(head, nudged, mask), mask) == 0


def test_a_linear_heads_max_marginals_are_its_scores() -> None:
    head = LinearHead(3, 3, labels=PLAIN, scheme="plain")
    logits = torch.randn(2, 3, 3)
    mask = torch.tensor([[True, True, True], [True, False, False]])
    found = max_marginals(head, logits, mask)
    assert found.dtype == torch.float64
    torch.testing.assert_close(found[mask], logits[mask].double())


def test_parity_tallies_add_up_and_hold_only_with_every_difference_at_a_tie() -> None:
    first = Parity(tokens=10, differing=1, tied=1, near_ties=2, logits=3e-6)
    second = Parity(tokens=5, logits=1e-6, probabilities=2e-6)
    total = first + second
    assert (total.tokens, total.differing, total.tied, total.near_ties) == (15, 1, 1, 2)
    assert (total.logits, total.probabilities) == (3e-6, 2e-6)
    assert total.holds and total.agreement == pytest.approx(14 / 15)
    assert "(1 differ, 1 at ties)" in str(total)
    assert not (total + Parity(tokens=1, differing=1)).holds
    assert not Parity(tokens=1, logits=2e-4).holds
