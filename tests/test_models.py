"""Tests for seqtagger.models: embeddings, encoders, heads, tagger assembly."""

from __future__ import annotations

import logging

import pytest
import torch

from seqtagger.models.embeddings import TokenEmbedder, load_pretrained_vectors
from seqtagger.models.encoders import BiLSTMEncoder, TransformerEncoder
from seqtagger.models.heads import LinearHead
from seqtagger.models.loss import sequence_cross_entropy
from seqtagger.models.tagger import Tagger, build_tagger

NUM_WORDS, NUM_CHARS, NUM_LABELS = 20, 15, 5


def make_batch(lengths: list[int], width: int = 6, extra_pad: int = 0, pad_fill: int = 0):
    """A collate_batch-like dict; padded slots hold ``pad_fill`` (0 = the real padding id)."""
    g = torch.Generator().manual_seed(0)
    n, length = len(lengths), max(lengths) + extra_pad
    lengths_t = torch.tensor(lengths)
    mask = torch.arange(length).unsqueeze(0) < lengths_t.unsqueeze(1)
    token_ids = torch.randint(2, NUM_WORDS, (n, length), generator=g).masked_fill(~mask, pad_fill)
    word_lengths = torch.randint(1, width + 1, (n, length), generator=g)
    char_mask = (torch.arange(width) < word_lengths.unsqueeze(-1)) & mask.unsqueeze(-1)
    char_ids = torch.randint(1, NUM_CHARS, (n, length, width), generator=g)
    char_ids = char_ids.masked_fill(~char_mask, pad_fill)
    tag_ids = torch.randint(0, NUM_LABELS, (n, length), generator=g).masked_fill(~mask, -100)
    return {
        "token_ids": token_ids,
        "char_ids": char_ids,
        "tag_ids": tag_ids,
        "lengths": lengths_t,
        "mask": mask,
        "index": torch.arange(n),
    }


def pad_more(batch: dict, extra_len: int, extra_width: int) -> dict:
    """Append padding to every tensor of a batch (longer sentences, longer words)."""
    token_ids = torch.nn.functional.pad(batch["token_ids"], (0, extra_len))
    char_ids = torch.nn.functional.pad(batch["char_ids"], (0, extra_width, 0, extra_len))
    mask = torch.nn.functional.pad(batch["mask"], (0, extra_len), value=False)
    return {**batch, "token_ids": token_ids, "char_ids": char_ids, "mask": mask}


def scramble_padding(batch: dict) -> dict:
    """Put garbage ids at padded token positions and padded char slots of real words."""
    mask = batch["mask"]
    token_ids = batch["token_ids"].masked_fill(~mask, 7)
    char_ids = batch["char_ids"].clone()
    char_ids[~mask] = 3  # whole padded words
    return {**batch, "token_ids": token_ids, "char_ids": char_ids}


# --- embeddings ---------------------------------------------------------------------------------


def test_token_embedder_shapes():
    emb = TokenEmbedder(NUM_WORDS, NUM_CHARS, word_dim=16, char_dim=8, char_filters=10)
    batch = make_batch([4, 2])
    assert emb.output_size == 26
    assert emb(batch).shape == (2, 4, 26)
    no_chars = TokenEmbedder(NUM_WORDS, NUM_CHARS, word_dim=16, char_dim=0)
    assert no_chars.output_size == 16 and no_chars.char_encoder is None
    words_only = {"token_ids": batch["token_ids"]}
    assert no_chars(words_only).shape == (2, 4, 16)
    with pytest.raises(ValueError, match="char_ids"):
        emb(words_only)


def test_word_dropout_only_in_training_and_never_on_padding():
    emb = TokenEmbedder(NUM_WORDS, NUM_CHARS, word_dim=4, char_dim=0, word_dropout=0.5)
    token_ids = make_batch([30, 10, 25])["token_ids"]
    emb.train()
    dropped = emb._drop_words(token_ids)
    real = token_ids != 0
    assert torch.equal(dropped[~real], token_ids[~real])  # pad stays pad
    replaced = dropped != token_ids
    assert replaced.any() and torch.all(dropped[replaced] == 1)  # real -> unk only
    assert 0.3 < replaced[real].float().mean() < 0.7
    emb.eval()
    assert torch.equal(emb._drop_words(token_ids), token_ids)


def write_glove(path, rows, header: str | None = None):
    lines = ([header] if header else []) + [f"{w} " + " ".join(map(str, v)) for w, v in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_pretrained_vectors_exact_then_lowercase(tmp_path, caplog):
    path = write_glove(
        tmp_path / "glove.txt",
        [("the", [1, 1, 1]), ("paris", [2, 2, 2]), ("Paris", [3, 3, 3]), ("berlin", [4, 4, 4])],
    )
    words = ["<pad>", "<unk>", "the", "Paris", "Berlin", "BERLIN", "zzz", "The"]
    with caplog.at_level(logging.INFO, logger="seqtagger.models.embeddings"):
        weights, coverage = load_pretrained_vectors(path, words, 3)
    assert weights.shape == (8, 3)
    assert weights[2].tolist() == [1, 1, 1]  # exact
    assert weights[3].tolist() == [3, 3, 3]  # exact "Paris" beats lowercase "paris" before it
    assert weights[4].tolist() == [4, 4, 4]  # lowercase
    assert weights[5].tolist() == [4, 4, 4]
    assert weights[7].tolist() == [1, 1, 1]
    assert coverage == pytest.approx(5 / 8)
    assert "coverage 62.5%" in caplog.text


def test_load_pretrained_vectors_word2vec_header_and_errors(tmp_path):
    path = write_glove(tmp_path / "w2v.txt", [("a", [0.5, -1.5])], header="1 2")
    weights, coverage = load_pretrained_vectors(path, ["a", "b"], 2)
    assert weights[0].tolist() == [0.5, -1.5] and coverage == 0.5
    with pytest.raises(ValueError, match=r"w2v\.txt:1: .*header.*word_dim=3"):
        load_pretrained_vectors(path, ["a"], 3)
    glove = write_glove(tmp_path / "g.txt", [("a", [1, 2, 3]), ("b", [1, 2])])
    with pytest.raises(ValueError, match=r"g\.txt:1: vectors have 3 values but word_dim=4"):
        load_pretrained_vectors(glove, ["a"], 4)
    with pytest.raises(ValueError, match=r"g\.txt:2: expected a word followed by 3 values"):
        load_pretrained_vectors(glove, ["a"], 3)


def test_token_embedder_pretrained_and_freeze(tmp_path):
    path = write_glove(tmp_path / "g.txt", [("<pad>", [9, 9]), ("cat", [1, 2])])
    words = ["<pad>", "<unk>", "cat"]
    emb = TokenEmbedder(
        3, 5, word_dim=2, char_dim=0, pretrained=str(path), words=words, freeze=True
    )
    assert emb.word_embedding.weight[2].tolist() == [1, 2]
    assert emb.word_embedding.weight[0].tolist() == [0, 0]  # pad row stays zero
    assert not emb.word_embedding.weight.requires_grad
    assert emb.coverage == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="needs `words`"):
        TokenEmbedder(3, 5, word_dim=2, char_dim=0, pretrained=str(path))


# --- encoders -----------------------------------------------------------------------------------


ENCODERS = [
    pytest.param(lambda d: BiLSTMEncoder(d, hidden_size=12, num_layers=2), id="bilstm"),
    pytest.param(
        lambda d: TransformerEncoder(d, d_model=16, num_layers=2, dim_feedforward=32),
        id="transformer-sinusoidal",
    ),
    pytest.param(
        lambda d: TransformerEncoder(d, d_model=16, dim_feedforward=32, positions="learned"),
        id="transformer-learned",
    ),
]


@pytest.mark.parametrize("make_encoder", ENCODERS)
def test_encoder_shape_and_zero_padding(make_encoder):
    torch.manual_seed(0)
    encoder = make_encoder(8).eval()
    lengths = torch.tensor([5, 2, 0])
    mask = torch.arange(5).unsqueeze(0) < lengths.unsqueeze(1)
    out = encoder(torch.randn(3, 5, 8), lengths, mask)
    assert out.shape == (3, 5, encoder.output_size)
    assert torch.isfinite(out).all()  # an empty sentence does not produce NaN
    assert torch.all(out[~mask] == 0)


@pytest.mark.parametrize("make_encoder", ENCODERS)
def test_encoder_padding_invariance(make_encoder):
    torch.manual_seed(0)
    encoder = make_encoder(8).eval()
    lengths = torch.tensor([6, 3, 1])
    mask = torch.arange(6).unsqueeze(0) < lengths.unsqueeze(1)
    x = torch.randn(3, 6, 8)
    out = encoder(x, lengths, mask)
    garbage = torch.where(mask.unsqueeze(-1), x, torch.randn_like(x) * 100)
    torch.testing.assert_close(encoder(garbage, lengths, mask)[mask], out[mask])
    longer = torch.cat([garbage, torch.randn(3, 4, 8)], dim=1)
    longer_mask = torch.nn.functional.pad(mask, (0, 4), value=False)
    longer_out = encoder(longer, lengths, longer_mask)
    torch.testing.assert_close(longer_out[:, :6][mask], out[mask], atol=1e-5, rtol=1e-5)
    alone = encoder(x[1:2, :3], lengths[1:2], mask[1:2, :3])  # no padding at all
    torch.testing.assert_close(alone[0], out[1, :3], atol=1e-5, rtol=1e-5)


def test_learned_positions_clamp_beyond_max_positions():
    encoder = TransformerEncoder(4, d_model=8, num_heads=2, positions="learned", max_positions=4)
    encoder.eval()
    mask = torch.ones(1, 10, dtype=torch.bool)
    out = encoder(torch.randn(1, 10, 4), torch.tensor([10]), mask)
    assert out.shape == (1, 10, 8) and torch.isfinite(out).all()


def test_encoder_config_errors():
    with pytest.raises(ValueError, match="even"):
        BiLSTMEncoder(4, hidden_size=7)
    with pytest.raises(ValueError, match="divisible"):
        TransformerEncoder(4, d_model=10, num_heads=4)
    with pytest.raises(ValueError, match="positions"):
        TransformerEncoder(4, positions="rotary")


def test_linear_head_shape():
    head = LinearHead(12, NUM_LABELS, dropout=0.1)
    assert head(torch.randn(2, 3, 12)).shape == (2, 3, NUM_LABELS)


# --- tagger -------------------------------------------------------------------------------------


def config(encoder_target: str, **encoder_kwargs):
    return (
        {
            "_target_": "seqtagger.models.embeddings.TokenEmbedder",
            "word_dim": 16,
            "char_dim": 8,
            "char_filters": 8,
        },
        {"_target_": f"seqtagger.models.encoders.{encoder_target}", **encoder_kwargs},
        {"_target_": "seqtagger.models.heads.LinearHead", "dropout": 0.1},
    )


@pytest.mark.parametrize(
    "encoder_config",
    [
        ("BiLSTMEncoder", {"hidden_size": 12}),
        ("TransformerEncoder", {"d_model": 16, "num_layers": 1, "dim_feedforward": 32}),
    ],
    ids=["bilstm", "transformer"],
)
def test_build_tagger_forward_and_padding_invariance(encoder_config):
    torch.manual_seed(0)
    name, kwargs = encoder_config
    words = [f"w{i}" for i in range(NUM_WORDS)]
    tagger = build_tagger(
        *config(name, **kwargs),
        num_words=NUM_WORDS,
        num_chars=NUM_CHARS,
        num_labels=NUM_LABELS,
        words=words,
    )
    assert isinstance(tagger, Tagger) and tagger.num_labels == NUM_LABELS
    assert tagger.encoder.output_size == tagger.head.linear.in_features
    assert tagger.embedder.output_size == 24

    tagger.eval()
    batch = make_batch([5, 3, 1])
    logits = tagger(batch)["tags"]
    assert logits.shape == (3, 5, NUM_LABELS)
    mask = batch["mask"]
    torch.testing.assert_close(tagger(scramble_padding(batch))["tags"][mask], logits[mask])
    longer = tagger(pad_more(batch, extra_len=3, extra_width=4))["tags"]
    torch.testing.assert_close(longer[:, :5][mask], logits[mask], atol=1e-5, rtol=1e-5)

    tagger.train()
    loss = sequence_cross_entropy(
        tagger(batch)["tags"].permute(0, 2, 1), batch["tag_ids"], num_classes=NUM_LABELS
    )
    loss.backward()
    assert tagger.embedder.word_embedding.weight.grad is not None


def test_build_tagger_requires_target():
    with pytest.raises(ValueError, match=r"model\.encoder config needs a `_target_`"):
        build_tagger(
            config("BiLSTMEncoder")[0],
            {"hidden_size": 8},
            config("BiLSTMEncoder")[2],
            num_words=NUM_WORDS,
            num_chars=NUM_CHARS,
            num_labels=NUM_LABELS,
        )


def test_build_tagger_from_dictconfig_and_inference_mode():
    """Hydra hands DictConfigs; predict runs under inference_mode (Transformer fast path)."""
    from omegaconf import OmegaConf

    embedding, encoder, head = (OmegaConf.create(c) for c in config("TransformerEncoder"))
    encoder.update({"d_model": 16, "num_layers": 1, "dim_feedforward": 32})
    tagger = build_tagger(
        embedding, encoder, head, num_words=NUM_WORDS, num_chars=NUM_CHARS, num_labels=3
    ).eval()
    batch = make_batch([5, 3, 1])
    with torch.inference_mode():
        logits = tagger(batch)["tags"]
        scrambled = tagger(scramble_padding(batch))["tags"]
    assert logits.shape == (3, 5, 3)
    torch.testing.assert_close(scrambled[batch["mask"]], logits[batch["mask"]])


@pytest.mark.parametrize("head_target", ["heads.LinearHead", "crf.CRFHead"])
def test_tagger_probabilities_are_the_heads_marginals(head_target):
    """One call from a collated batch to per-token probabilities ``(N, L, C)``, for either head."""
    torch.manual_seed(0)
    embedding, encoder, _ = config("BiLSTMEncoder", hidden_size=12)
    labels = ["B-LOC", "I-LOC", "O", "B-PER", "I-PER"]
    head = {"_target_": f"seqtagger.models.{head_target}"}
    options = {"labels": labels, "scheme": "iob2"}
    tagger = build_tagger(
        embedding,
        encoder,
        head,
        num_words=NUM_WORDS,
        num_chars=NUM_CHARS,
        num_labels=len(labels),
        head_options=options,
    ).eval()
    batch = make_batch([5, 3, 1])
    with torch.inference_mode():
        probabilities = tagger.probabilities(batch, temperature=1.5)["tags"]
        expected = tagger.head.marginals(tagger(batch)["tags"], batch["mask"], 1.5)
    assert probabilities.shape == (3, 5, len(labels))
    torch.testing.assert_close(probabilities, expected)
    torch.testing.assert_close(probabilities.sum(-1), batch["mask"].float())
