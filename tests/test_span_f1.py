"""Tests for SpanF1: hand-checked chunk cases and agreement with the pure-Python scorer."""

from __future__ import annotations

import random

import pytest
import torch

from seqtagger.data.schemes import SchemeError
from seqtagger.metrics.conlleval import ChunkCounts, evaluate
from seqtagger.metrics.span_f1 import OVERALL, SpanF1

IGNORE = -100
TYPES = ("PER", "LOC", "B-C")
PREFIXES = {"iob1": "BI", "iob2": "BI", "bioes": "BIES"}


def labels_for(scheme: str) -> list[str]:
    if scheme == "plain":
        return ["NN", "VB", "DT", "B-NOT-A-CHUNK"]
    return ["O"] + [f"{p}-{t}" for t in TYPES for p in PREFIXES[scheme]]


def encode(sentences: list[list[str]], labels: list[str]) -> torch.Tensor:
    """``(N, L)`` label ids, padded with IGNORE."""
    index = {label: i for i, label in enumerate(labels)}
    length = max((len(s) for s in sentences), default=0)
    return torch.tensor(
        [[index[t] for t in s] + [IGNORE] * (length - len(s)) for s in sentences],
        dtype=torch.long,
    ).reshape(len(sentences), length)


def score(gold: list[str], pred: list[str], scheme: str = "iob2", strict: bool = False) -> dict:
    labels = labels_for(scheme)
    metric = SpanF1(labels, scheme, strict=strict)
    metric.update(encode([pred], labels), encode([gold], labels))
    return metric.counts()[OVERALL]


def _t(text: str) -> list[str]:
    return text.split()


@pytest.mark.parametrize(
    ("gold", "pred", "scheme", "expected"),
    [
        # (correct, pred, gold) chunks
        ("B-PER I-PER O", "B-PER I-PER O", "iob2", (1, 1, 1)),
        ("B-PER I-PER", "B-PER I-LOC", "iob2", (0, 2, 1)),  # type change splits the chunk
        ("B-PER B-PER", "B-PER I-PER", "iob2", (0, 1, 2)),  # B-X B-X = two chunks
        ("O B-LOC I-LOC", "O B-LOC I-LOC", "iob2", (1, 1, 1)),  # chunk ends at sentence end
        ("O B-LOC I-LOC", "O B-LOC O", "iob2", (0, 1, 1)),
        ("O O O", "B-PER O O", "iob2", (0, 1, 0)),  # empty gold
        ("B-PER O O", "O O O", "iob2", (0, 0, 1)),  # empty guess
        ("O I-PER I-PER", "O B-PER I-PER", "iob2", (1, 1, 1)),  # lenient: I after O starts
        ("I-PER I-PER B-PER", "I-PER I-PER I-PER", "iob1", (0, 1, 2)),  # IOB1 run split by B
        ("I-PER I-PER B-PER", "B-PER I-PER B-PER", "iob1", (2, 2, 2)),
        ("B-PER E-PER S-LOC", "B-PER E-PER S-LOC", "bioes", (2, 2, 2)),
        ("B-PER E-PER S-LOC", "B-PER I-PER S-LOC", "bioes", (2, 2, 2)),  # same spans as IOB2
        ("S-PER E-PER", "B-PER E-PER", "bioes", (0, 1, 2)),  # E after S starts a new chunk
        ("B-PER E-PER E-PER", "B-PER I-PER E-PER", "bioes", (0, 1, 2)),
    ],
)
def test_hand_checked_cases(gold: str, pred: str, scheme: str, expected: tuple) -> None:
    counts = score(_t(gold), _t(pred), scheme)
    assert (counts["correct"], counts["pred"], counts["gold"]) == expected


def test_strict_drops_chunks_starting_with_i() -> None:
    gold, pred = _t("O B-PER I-PER O B-LOC"), _t("O I-PER I-PER O B-LOC")
    lenient, strict = score(gold, pred), score(gold, pred, strict=True)
    assert (lenient["correct"], lenient["pred"], lenient["gold"]) == (2, 2, 2)
    assert (strict["correct"], strict["pred"], strict["gold"]) == (1, 1, 2)
    # IOB1: every segment is a valid chunk, strict changes nothing
    assert score(pred, pred, "iob1", strict=True)["correct"] == 2


def test_compute_values_and_per_type_keys() -> None:
    labels = labels_for("iob2")
    metric = SpanF1(labels, "iob2")
    gold = [_t("B-PER I-PER O B-LOC"), _t("B-LOC")]
    pred = [_t("B-PER I-PER O O"), _t("B-PER")]
    metric.update(encode(pred, labels), encode(gold, labels))
    out = metric.compute()
    # gold: PER, LOC, LOC; pred: PER, PER; correct: PER (first sentence)
    assert out["precision"].item() == pytest.approx(1 / 2)
    assert out["recall"].item() == pytest.approx(1 / 3)
    assert out["f1"].item() == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))
    assert out["accuracy"].item() == pytest.approx(3 / 5)
    assert out["precision/PER"].item() == pytest.approx(1 / 2)
    assert out["recall/PER"].item() == pytest.approx(1.0)
    assert out["f1/LOC"].item() == 0.0  # undefined precision counts as 0
    assert set(out) == {"precision", "recall", "f1", "accuracy"} | {
        f"{m}/{t}" for m in ("precision", "recall", "f1") for t in TYPES
    }


@pytest.mark.filterwarnings("ignore:The ``compute`` method")
def test_empty_metric_computes_zeros() -> None:
    metric = SpanF1(labels_for("iob2"), "iob2")
    assert all(v.item() == 0.0 for v in metric.compute().values())


def test_ignored_positions_are_o_and_not_tokens() -> None:
    labels = labels_for("iob2")
    metric = SpanF1(labels, "iob2")
    index = {label: i for i, label in enumerate(labels)}
    target = torch.tensor([[index["B-PER"], IGNORE, index["I-PER"]]])
    preds = torch.tensor([[index["B-PER"], index["I-PER"], index["I-PER"]]])
    metric.update(preds, target)
    counts = metric.counts()
    # the gap splits gold into PER(0,1) + PER(2,3) and pred likewise: both chunks correct
    assert counts["PER"] == {"correct": 2, "pred": 2, "gold": 2}
    assert (counts[OVERALL]["tokens"], counts[OVERALL]["correct_tokens"]) == (2, 2)


def test_bad_labels_and_shapes() -> None:
    with pytest.raises(SchemeError, match="label 1 'E-PER' is not valid in scheme iob2"):
        SpanF1(["O", "E-PER"], "iob2")
    with pytest.raises(SchemeError, match="malformed tag"):
        SpanF1(["O", "<pad>"], "iob2")
    metric = SpanF1(["O"], "iob2")  # no chunk types at all
    metric.update(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long))
    assert metric.compute()["accuracy"].item() == 1.0
    with pytest.raises(ValueError, match="differ"):
        metric.update(torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 4, dtype=torch.long))


def random_batch(
    rng: random.Random, scheme: str, n: int
) -> tuple[list[list[str]], list[list[str]]]:
    """Random gold/pred tag sentences (any tag order, so ill-formed chunks occur)."""
    labels = labels_for(scheme)
    gold, pred = [], []
    for _ in range(n):
        length = rng.randint(1, 9)
        gold.append([rng.choice(labels) for _ in range(length)])
        pred.append([rng.choice(labels) for _ in range(length)])
    return gold, pred


@pytest.mark.parametrize("scheme", ["plain", "iob1", "iob2", "bioes"])
@pytest.mark.parametrize("strict", [False, True])
def test_counts_equal_pure_python_scorer(scheme: str, strict: bool) -> None:
    """SpanF1 == conlleval.evaluate (built on schemes.get_spans) on random padded batches."""
    rng = random.Random(f"{scheme}-{strict}")
    labels = labels_for(scheme)
    metric = SpanF1(labels, scheme, strict=strict)
    all_gold, all_pred = [], []
    for _ in range(20):
        gold, pred = random_batch(rng, scheme, rng.randint(1, 6))
        metric.update(encode(pred, labels), encode(gold, labels))
        all_gold += gold
        all_pred += pred
    expected = evaluate(zip(all_gold, all_pred, strict=True), scheme, strict)
    assert metric.chunk_counts() == expected
    out = metric.compute()
    assert out["f1"].item() == pytest.approx(expected.f1())
    assert out["accuracy"].item() == pytest.approx(expected.accuracy)


def test_batches_and_simulated_ranks_match_one_pass() -> None:
    rng = random.Random(3)
    labels = labels_for("bioes")
    gold, pred = random_batch(rng, "bioes", 24)
    one_pass = SpanF1(labels, "bioes")
    one_pass.update(encode(pred, labels), encode(gold, labels))

    batched = SpanF1(labels, "bioes")
    for i in range(0, 24, 5):
        batched.update(encode(pred[i : i + 5], labels), encode(gold[i : i + 5], labels))
    assert batched.counts() == one_pass.counts()

    # two "ranks": sum their states as dist_reduce_fx="sum" would, and via merge_state
    ranks = [SpanF1(labels, "bioes") for _ in range(2)]
    for rank, metric in enumerate(ranks):
        metric.update(encode(pred[rank::2], labels), encode(gold[rank::2], labels))
    summed = SpanF1(labels, "bioes")
    for name in ("correct", "pred", "gold", "correct_tokens", "tokens"):
        setattr(summed, name, getattr(ranks[0], name) + getattr(ranks[1], name))
    assert summed.counts() == one_pass.counts()
    ranks[0].merge_state(ranks[1])
    assert ranks[0].counts() == one_pass.counts()
    for key, value in one_pass.compute().items():
        assert torch.equal(ranks[0].compute()[key], value)


def test_update_makes_no_host_sync() -> None:
    """On the meta device any ``.item()``/``.tolist()``/data-dependent branch would raise."""
    labels = labels_for("bioes")
    metric = SpanF1(labels, "bioes", strict=True).to("meta")
    preds = torch.zeros(4, 7, dtype=torch.long, device="meta")
    metric.update(preds, preds.clone())
    assert metric.tokens.device.type == "meta"


def test_chunk_counts_round_trip() -> None:
    metric = SpanF1(labels_for("iob2"), "iob2")
    assert metric.chunk_counts() == ChunkCounts(0, 0, {}, {}, {})


@pytest.mark.parametrize("scheme", ["iob1", "iob2", "bioes"])
def test_with_strict_equals_a_separate_strict_metric(scheme: str) -> None:
    """One pass counts both modes: the strict/* keys equal a strict=True metric's scores."""
    rng = random.Random(f"with-strict-{scheme}")
    labels = labels_for(scheme)
    both = SpanF1(labels, scheme, with_strict=True)
    lenient, strict = SpanF1(labels, scheme), SpanF1(labels, scheme, strict=True)
    for _ in range(20):
        ids = [[rng.randrange(len(labels)) for _ in range(12)] for _ in range(2)]
        preds, target = torch.tensor(ids[0])[None], torch.tensor(ids[1])[None]
        for metric in (both, lenient, strict):
            metric.update(preds, target)
    got, expected_lenient, expected_strict = both.compute(), lenient.compute(), strict.compute()
    for name in ("precision", "recall", "f1"):
        assert torch.equal(got[name], expected_lenient[name])
        assert torch.equal(got[f"strict/{name}"], expected_strict[name])
