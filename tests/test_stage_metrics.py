"""The stages' token-weighted mean loss: the right number, and no host read while it updates
(on a GPU a read in each step's update would make every step wait for the device)."""

from __future__ import annotations

import pytest
import torch

from seqtagger.metrics.stages import WeightedMean


def test_weighted_mean_weighs_each_batch_by_its_tokens() -> None:
    g = torch.Generator().manual_seed(0)
    values = torch.rand(20, generator=g) * 3
    weights = torch.randint(1, 500, (20,), generator=g)
    metric = WeightedMean()
    for value, weight in zip(values, weights, strict=True):
        metric.update(value, weight)
    expected = (values.double() * weights).sum() / weights.sum()
    assert metric.compute().item() == pytest.approx(expected.item(), rel=1e-6)
    metric.reset()
    metric.update(torch.tensor(2.0), torch.tensor(3))
    assert metric.compute().item() == 2.0


def test_weighted_mean_updates_without_reading_a_value_back(monkeypatch) -> None:
    """``bool``, ``item`` and ``tolist`` are how a tensor's value reaches Python (torchmetrics'
    ``MeanMetric`` tests NaNs with ``bool``); none may run in an update."""
    metric = WeightedMean()

    def read(*args, **kwargs):
        raise AssertionError("a tensor value was read back to the host in update()")

    for name in ("__bool__", "item", "tolist"):
        monkeypatch.setattr(torch.Tensor, name, read)
    for _ in range(3):
        metric.update(torch.tensor(0.5), torch.tensor(10))
    monkeypatch.undo()
    assert metric.compute().item() == 0.5
