"""Character encoders (``models/chars.py``): the CNN and the BiLSTM, their padding contract, and
the embedder's choice between them."""

from __future__ import annotations

import pytest
import torch

from seqtagger.errors import ConfigError
from seqtagger.models.chars import CHAR_ENCODERS, CharCNN, CharLSTM
from seqtagger.models.embeddings import TokenEmbedder
from tests.test_models import NUM_CHARS, NUM_WORDS, make_batch


def test_char_cnn_shape_and_padding():
    cnn = CharCNN(NUM_CHARS, char_dim=8, num_filters=12, kernel_size=3).eval()
    char_ids = torch.tensor([[[3, 4, 5, 0], [6, 0, 0, 0], [0, 0, 0, 0]]])  # (1, 3, 4)
    out = cnn(char_ids)
    assert out.shape == (1, 3, 12) and cnn.output_size == 12
    assert torch.all(out[0, 2] == 0)  # all-pad word: zeros, not -inf
    assert torch.isfinite(out).all()
    wider = cnn(torch.nn.functional.pad(char_ids, (0, 5)))  # more padding chars
    torch.testing.assert_close(wider, out)


def test_char_cnn_padding_never_wins_the_max():
    cnn = CharCNN(NUM_CHARS, char_dim=4, num_filters=3, kernel_size=1)
    with torch.no_grad():
        cnn.conv.weight.fill_(-1.0)  # every real char scores below a zero (padding) column
        cnn.conv.bias.fill_(0.0)
        cnn.embedding.weight.abs_()
    out = cnn(torch.tensor([[[2, 3, 0, 0]]]))
    assert (out < 0).all()


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_char_cnn_even_kernel_keeps_width():
    cnn = CharCNN(NUM_CHARS, char_dim=4, num_filters=3, kernel_size=4)
    assert cnn(torch.randint(0, NUM_CHARS, (2, 3, 5))).shape == (2, 3, 3)


def reference_char_lstm(lstm: CharLSTM, chars: list[int]) -> torch.Tensor:
    """One word's vector computed on its characters alone, without padding or gathering."""
    ids = torch.tensor([chars])
    forward, _ = lstm.forward_lstm(lstm.embedding(ids))
    backward, _ = lstm.backward_lstm(lstm.embedding(ids.flip(1)))
    return torch.cat([forward[0, -1], backward[0, -1]])


def test_char_lstm_matches_each_word_read_alone():
    torch.manual_seed(0)
    lstm = CharLSTM(NUM_CHARS, char_dim=4, output_size=6).eval()
    words = [[3, 4, 5, 6], [7], [2, 9, 11]]
    char_ids = torch.zeros(1, 4, 5, dtype=torch.long)  # a padded token position last
    for position, chars in enumerate(words):
        char_ids[0, position, : len(chars)] = torch.tensor(chars)
    out = lstm(char_ids)
    assert out.shape == (1, 4, 6) and lstm.output_size == 6
    for position, chars in enumerate(words):
        torch.testing.assert_close(out[0, position], reference_char_lstm(lstm, chars))
    assert torch.all(out[0, 3] == 0)  # all-pad word: zeros
    wider = lstm(torch.nn.functional.pad(char_ids, (0, 4, 0, 2)))  # more padding, both ways
    torch.testing.assert_close(wider[:, :4], out)


def test_char_lstm_trains_through_both_directions():
    lstm = CharLSTM(NUM_CHARS, char_dim=4, output_size=4)
    lstm(torch.tensor([[[3, 4, 0], [5, 0, 0]]])).sum().backward()
    for direction in (lstm.forward_lstm, lstm.backward_lstm):
        assert direction.weight_ih_l0.grad.abs().sum() > 0


def test_char_encoder_options_are_checked():
    with pytest.raises(ConfigError, match=r"char_filters=5.*even"):
        TokenEmbedder(NUM_WORDS, NUM_CHARS, char_encoder="lstm", char_filters=5)
    with pytest.raises(ConfigError, match=r"char_encoder='gru'.*cnn, lstm"):
        TokenEmbedder(NUM_WORDS, NUM_CHARS, char_encoder="gru")
    with pytest.raises(ConfigError, match=r"char_kernel_size=0: expected >= 1"):
        TokenEmbedder(NUM_WORDS, NUM_CHARS, char_kernel_size=0)
    # the kernel size is the CNN's: the BiLSTM neither reads nor checks it
    lstm = TokenEmbedder(NUM_WORDS, NUM_CHARS, char_encoder="lstm", char_kernel_size=0)
    assert isinstance(lstm.char_encoder, CharLSTM)


def test_token_embedder_with_a_character_lstm():
    emb = TokenEmbedder(
        NUM_WORDS, NUM_CHARS, word_dim=16, char_dim=8, char_filters=10, char_encoder="lstm"
    )
    assert isinstance(emb.char_encoder, CharLSTM) and not hasattr(emb, "char_cnn")
    assert emb.output_size == 26 and emb(make_batch([4, 2])).shape == (2, 4, 26)
    assert {key.split(".")[0] for key in emb.state_dict()} == {"word_embedding", "char_lstm"}
    cnn = TokenEmbedder(NUM_WORDS, NUM_CHARS, char_dim=8)
    assert isinstance(cnn.char_encoder, CharCNN)
    # earlier checkpoints name the CNN's weights char_cnn.*
    assert {key.split(".")[0] for key in cnn.state_dict()} == {"word_embedding", "char_cnn"}


class CharMean(torch.nn.Module):
    """A character encoder defined only here: the mean of a word's character embeddings."""

    kind = "mean"

    def __init__(self, num_chars: int, char_dim: int, pad_index: int) -> None:
        super().__init__()
        self.pad_index, self.output_size = pad_index, char_dim
        self.embedding = torch.nn.Embedding(num_chars, char_dim, padding_idx=pad_index)

    @classmethod
    def from_options(
        cls, num_chars: int, char_dim: int, features: int, kernel_size: int, pad_index: int
    ) -> CharMean:
        return cls(num_chars, char_dim, pad_index)

    def forward(self, char_ids: torch.Tensor) -> torch.Tensor:
        real = (char_ids != self.pad_index).unsqueeze(-1)  # (N, L, W, 1)
        total = (self.embedding(char_ids) * real).sum(dim=2)
        return total / real.sum(dim=2).clamp(min=1)


def test_a_character_encoder_is_one_class_listed_in_char_encoders(monkeypatch):
    monkeypatch.setitem(CHAR_ENCODERS, "mean", CharMean)
    emb = TokenEmbedder(NUM_WORDS, NUM_CHARS, word_dim=16, char_dim=6, char_encoder="mean")
    assert isinstance(emb.char_encoder, CharMean) and emb.output_size == 22
    assert emb(make_batch([4, 2])).shape == (2, 4, 22)
    assert {key.split(".")[0] for key in emb.state_dict()} == {"word_embedding", "char_mean"}


@pytest.mark.parametrize("kind", ["cnn", "lstm"])
def test_on_the_cpu_only_real_words_are_encoded_with_the_same_features(kind: str) -> None:
    torch.manual_seed(0)
    embedder = TokenEmbedder(
        50, 30, word_dim=8, char_dim=6, char_filters=10, char_encoder=kind, dropout=0.0
    ).eval()
    mask = torch.arange(5) < torch.tensor([5, 2, 4])[:, None]
    char_ids = torch.randint(2, 30, (3, 5, 7))
    char_ids[~mask] = 0
    char_ids[..., 5:] = 0
    seen: list[tuple[int, ...]] = []
    embedder.char_encoder.register_forward_hook(lambda _, args, out: seen.append(args[0].shape))
    features = embedder._char_features(char_ids, mask)
    assert seen == [(1, int(mask.sum()), 7)]  # the 11 real words, not the 15 positions
    everything = embedder.char_encoder(char_ids)
    torch.testing.assert_close(features[mask], everything[mask])
    assert torch.equal(features[~mask], torch.zeros_like(features[~mask]))
