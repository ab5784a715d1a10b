"""The lengths' host copy: packing a batch on a GPU must not wait for the GPU.

``pack_padded_sequence`` reads lengths on the CPU. Copying them back from the device
(``lengths.cpu()``) blocks until every queued kernel has run, once per batch; the batch keeps a CPU
copy (``lengths_cpu``) that no transfer moves. Without a GPU here, the ``meta`` device stands in
for one: its tensors have no values, so any attempt to read device lengths on the host fails.
"""

from __future__ import annotations

import datasets
import pytest
import torch

from seqtagger.data.collate import HOST_KEYS, batch_to_device, collate_batch
from seqtagger.data.tagged_dataset import TaggedDataset
from seqtagger.lightning_module import TaggerModule
from seqtagger.models.tagger import build_tagger

ROWS = {
    "token_ids": [[2, 3, 4], [5], [6, 7]],
    "char_ids": [[[2], [3, 4], [5]], [[6, 7, 8, 9]], [[10], [11, 12]]],
    "tag_ids": [[0, 1, 2], [1], [2, 0]],
    "length": [3, 1, 2],
}
EMBEDDING = {"_target_": "seqtagger.models.embeddings.TokenEmbedder", "word_dim": 8}
ENCODER = {"_target_": "seqtagger.models.encoders.BiLSTMEncoder", "hidden_size": 8}
HEADS = {
    "linear": {"_target_": "seqtagger.models.heads.LinearHead"},
    "crf": {"_target_": "seqtagger.models.crf.CRFHead"},
}


@pytest.fixture
def batch() -> dict[str, torch.Tensor]:
    rows = TaggedDataset(datasets.Dataset.from_dict(ROWS))
    return collate_batch(rows.__getitems__([0, 1, 2]))


def test_collate_keeps_a_host_copy_of_the_lengths(batch):
    assert "lengths_cpu" in HOST_KEYS
    host = batch["lengths_cpu"]
    assert host.device.type == "cpu" and host.dtype == torch.int64
    assert torch.equal(host, batch["lengths"])
    assert host.data_ptr() != batch["lengths"].data_ptr()  # a copy: nobody shares a buffer


def test_module_transfer_leaves_the_host_copy_on_the_host(batch):
    module = TaggerModule(EMBEDDING, ENCODER, HEADS["linear"], {"_target_": "torch.optim.Adam"})
    moved = module.transfer_batch_to_device(batch, torch.device("meta"), 0)
    assert set(moved) == set(batch)
    for name, tensor in moved.items():
        assert tensor.device.type == ("cpu" if name in HOST_KEYS else "meta"), name
    assert moved["lengths_cpu"] is batch["lengths_cpu"]


def test_predictor_transfer_leaves_the_host_copy_on_the_host(batch):
    moved = batch_to_device(batch, "meta")
    assert {name for name, t in moved.items() if t.device.type == "cpu"} == {"lengths_cpu"}


@pytest.mark.parametrize("head", sorted(HEADS))
def test_the_tagger_never_reads_device_lengths(batch, head, monkeypatch):
    """``lengths`` as a device tensor (meta: unreadable) and ``Tensor.cpu`` forbidden: forward,
    loss and decoding still run, so packing reads the host copy and nothing copies back."""
    tagger = build_tagger(
        EMBEDDING,
        ENCODER,
        HEADS[head],
        num_words=20,
        num_chars=15,
        num_labels=3,
        head_options={"labels": ["A", "B", "C"], "scheme": "plain"},
    )
    on_device = {**batch, "lengths": batch["lengths"].to("meta")}

    def no_copy_back(self, *args, **kwargs):
        raise AssertionError("Tensor.cpu() called in the training step: a device sync per batch")

    monkeypatch.setattr(torch.Tensor, "cpu", no_copy_back)
    logits = tagger(on_device)["tags"]  # (N, L, C)
    loss = tagger.head.loss(logits, on_device["tag_ids"], on_device["mask"])
    loss.backward()
    decoded = tagger.head.decode(logits.detach(), on_device["mask"])
    assert logits.shape == (3, 3, 3) and decoded.shape == (3, 3)
    assert torch.isfinite(loss)


def test_a_batch_without_the_host_copy_still_packs(batch):
    """Hand-built batches (no ``lengths_cpu``) keep working, at the cost of one copy."""
    tagger = build_tagger(
        EMBEDDING, ENCODER, HEADS["linear"], num_words=20, num_chars=15, num_labels=3
    )
    without = {name: t for name, t in batch.items() if name != "lengths_cpu"}
    torch.testing.assert_close(tagger.eval()(without)["tags"], tagger(batch)["tags"])
