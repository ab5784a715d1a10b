"""The CRF head: forward algorithm and Viterbi against brute force, gradients, constraints."""

from __future__ import annotations

import itertools

import pytest
import torch

from seqtagger.constants import IGNORE_INDEX
from seqtagger.data.schemes import validate_tags
from seqtagger.errors import ConfigError
from seqtagger.models.crf import CRFHead

BIOES = ["B-LOC", "E-LOC", "I-LOC", "O", "S-LOC", "B-PER", "E-PER", "I-PER", "S-PER"]
IOB2 = ["B-LOC", "I-LOC", "O", "B-PER", "I-PER"]


def random_head(labels: list[str], scheme: str, seed: int, **options) -> CRFHead:
    torch.manual_seed(seed)
    head = CRFHead(4, len(labels), labels=labels, scheme=scheme, **options)
    with torch.no_grad():
        for parameter in (head.transitions, head.start, head.end):
            parameter.normal_()
    return head


def path_score(head: CRFHead, emissions: torch.Tensor, path: tuple[int, ...]) -> torch.Tensor:
    """Score of one tag path of one sentence, -inf when a step is forbidden."""
    transitions, start, end = head.scores()
    score = start[path[0]] + end[path[-1]] + sum(emissions[i, t] for i, t in enumerate(path))
    return score + sum(transitions[a, b] for a, b in itertools.pairwise(path))


def masked_batch(lengths: list[int], num_labels: int, seed: int):
    torch.manual_seed(seed)
    emissions = torch.randn(len(lengths), max(lengths), num_labels, dtype=torch.float64)
    mask = torch.arange(max(lengths)) < torch.tensor(lengths)[:, None]
    return emissions, mask


@pytest.mark.parametrize(("labels", "scheme"), [(IOB2, "iob2"), (BIOES, "bioes"), (IOB2, "iob1")])
def test_partition_and_viterbi_equal_brute_force_with_padding(labels, scheme) -> None:
    head = random_head(labels, scheme, seed=0).double()
    lengths = [4, 2, 1, 3]
    emissions, mask = masked_batch(lengths, len(labels), seed=1)
    log_z = head.log_partition(emissions, mask)
    best = head.decode(emissions, mask)
    for row, length in enumerate(lengths):
        paths = list(itertools.product(range(len(labels)), repeat=length))
        scores = torch.stack([path_score(head, emissions[row], p) for p in paths])
        assert torch.allclose(log_z[row], torch.logsumexp(scores, 0))
        assert tuple(best[row, :length].tolist()) == paths[int(scores.argmax())]
        assert (best[row, length:] == IGNORE_INDEX).all()


def test_loss_is_the_gold_path_nll_per_token() -> None:
    head = random_head(IOB2, "iob2", seed=2).double()
    emissions, mask = masked_batch([3, 2], len(IOB2), seed=3)
    gold = torch.tensor([[0, 1, 2], [3, 4, IGNORE_INDEX]])
    expected = (
        sum(
            head.log_partition(emissions[r : r + 1], mask[r : r + 1])[0]
            - path_score(head, emissions[r], tuple(gold[r, : int(mask[r].sum())].tolist()))
            for r in range(2)
        )
        / 5
    )
    loss = head.loss(emissions, gold, mask)
    assert torch.allclose(loss, expected)


def test_gradcheck_float64() -> None:
    head = random_head(BIOES, "bioes", seed=4).double()
    emissions, mask = masked_batch([3, 2], len(BIOES), seed=5)
    gold = torch.tensor([[0, 1, 3], [4, 8, IGNORE_INDEX]])
    emissions.requires_grad_(True)

    assert torch.autograd.gradcheck(lambda e: head.loss(e, gold, mask), (emissions,))
    params = (head.transitions, head.start, head.end)
    assert torch.autograd.gradcheck(
        lambda *p: _loss_with(head, p, emissions.detach(), gold, mask), params
    )


def _loss_with(head, params, emissions, gold, mask):
    """The loss as a function of the transition, start and end tensors (for gradcheck)."""
    names = ("transitions", "start", "end")
    original = {name: head._parameters.pop(name) for name in names}
    try:
        for name, value in zip(names, params, strict=True):
            setattr(head, name, value)  # plain tensors: gradients flow to gradcheck's inputs
        return head.loss(emissions, gold, mask)
    finally:
        for name in names:
            delattr(head, name)
            head.register_parameter(name, original[name])


@pytest.mark.parametrize(("labels", "scheme"), [(IOB2, "iob2"), (BIOES, "bioes"), (IOB2, "iob1")])
def test_constrained_decoding_is_always_well_formed(labels, scheme) -> None:
    """Adversarial scores: forbidden transitions are the best-scored ones, emissions favour
    ill-formed tags; decoded output still validates."""
    head = random_head(labels, scheme, seed=6)
    with torch.no_grad():
        head.transitions.copy_(torch.where(head.allowed, -5.0, 50.0))
        head.start.copy_(torch.where(head.allowed_start, -5.0, 50.0))
        head.end.copy_(torch.where(head.allowed_end, -5.0, 50.0))
    emissions, mask = masked_batch([7, 5, 1, 6], len(labels), seed=7)
    emissions = emissions.float() * 20
    for row, ids in enumerate(head.decode(emissions, mask).tolist()):
        tags = [labels[i] for i in ids[: int(mask[row].sum())]]
        assert validate_tags(tags, scheme) == [], tags


def test_unconstrained_viterbi_would_be_ill_formed_and_constrained_is_not() -> None:
    """Emissions that prefer `O I-PER`: unconstrained Viterbi emits it, the CRF does not."""
    emissions = torch.full((1, 2, len(IOB2)), -5.0)
    emissions[0, 0, IOB2.index("O")] = 5.0
    emissions[0, 1, IOB2.index("I-PER")] = 5.0
    emissions[0, 1, IOB2.index("B-PER")] = 4.0
    mask = torch.ones(1, 2, dtype=torch.bool)
    free = CRFHead(4, len(IOB2), labels=IOB2, scheme="iob2", constrained=False)
    constrained = CRFHead(4, len(IOB2), labels=IOB2, scheme="iob2")
    assert [IOB2[i] for i in free.decode(emissions, mask)[0]] == ["O", "I-PER"]
    assert [IOB2[i] for i in constrained.decode(emissions, mask)[0]] == ["O", "B-PER"]


def test_label_smoothing_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"model\.label_smoothing=0\.1"):
        CRFHead(4, len(IOB2), labels=IOB2, scheme="iob2", label_smoothing=0.1)


def test_bf16_autocast_computes_in_fp32() -> None:
    head = random_head(IOB2, "iob2", seed=8)
    emissions, mask = masked_batch([3, 2], len(IOB2), seed=9)
    gold = torch.tensor([[0, 1, 2], [3, 4, IGNORE_INDEX]])
    batch = {"tag_ids": gold, "mask": mask}
    reference = head.loss(emissions.float(), batch["tag_ids"], batch["mask"])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = head.loss(emissions.bfloat16(), batch["tag_ids"], batch["mask"])
    assert loss.dtype == torch.float32
    assert torch.allclose(loss, reference, atol=0.05)


def test_crf_head_trains_evaluates_and_tags_well_formed(tiny_ner_dir, tmp_path) -> None:
    """`model/head=crf` end to end: training's test F1 equals seqtagger-eval's on the best
    checkpoint, and the predictions are well formed in the train scheme."""
    from seqtagger.eval import evaluate
    from seqtagger.inference import Predictor
    from seqtagger.train import train
    from tests.helpers import compose_config, compose_train, tiny_ner_overrides

    overrides = [*tiny_ner_overrides(tiny_ner_dir), "model/head=crf", "trainer.max_epochs=3"]
    metrics = train(compose_train([*overrides, "model.optimizer.lr=0.02"], tmp_path / "run"))
    assert metrics["test/f1"] > 0.9
    best = sorted((tmp_path / "run" / "checkpoints").glob("epoch_*.ckpt"))[-1]
    cfg = compose_config("eval", [f"ckpt_path={best}", "device=cpu"], tmp_path / "eval")
    assert abs(evaluate(cfg)["test"]["f1"] - metrics["test/f1"]) < 1e-6
    predictor = Predictor.from_checkpoint(best, device="cpu", scheme="bioes")
    sentences = [["Anna", "Berg", "visited", "Oslo", "."], ["EU", "met", "Acme", "Corp"]]
    for tags in predictor.predict(sentences):
        assert validate_tags(tags, "bioes") == [], tags


def test_forbidden_steps_name_each_ill_formed_gold_path() -> None:
    """The pieces ``data.max_length`` cut from a chunk: ``B-LOC`` last, ``I-LOC`` first."""
    head = random_head(BIOES, "bioes", seed=0)
    ids = {label: index for index, label in enumerate(BIOES)}
    gold = [["O", "B-LOC"], ["I-LOC", "E-LOC"], ["S-PER", "O"], ["O", "I-PER"]]
    tag_ids = torch.tensor([[ids[tag] for tag in tags] for tags in gold])
    mask = torch.ones_like(tag_ids, dtype=torch.bool)
    assert torch.isinf(head.loss(torch.randn(4, 2, len(BIOES)), tag_ids, mask))
    assert head.forbidden_steps(tag_ids, mask) == [
        (0, "'B-LOC' last"),
        (1, "'I-LOC' first"),
        (3, "'O' -> 'I-PER' at token 1"),
    ]
    mask[3, 1] = False  # padding is not part of the path
    assert [row for row, _ in head.forbidden_steps(tag_ids, mask)] == [0, 1]


def test_crf_trains_on_sentences_split_by_max_length(
    tiny_ner_dir, tmp_path, monkeypatch, capsys
) -> None:
    """``data.max_length=3`` cut chunks, and the CRF stopped at step 0 with an infinite loss,
    blaming the learning rate; the pieces are now cut between chunks or re-tagged."""
    from tests.helpers import tiny_ner_overrides
    from tests.reliability.test_bad_input import train_cli

    args = [*tiny_ner_overrides(tiny_ner_dir), "model/head=crf", "data.max_length=3"]
    args += ["trainer.max_epochs=1", "test=false"]
    code, err = train_cli(args, tmp_path, monkeypatch, capsys)
    assert code == 0, err[-2000:]
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
