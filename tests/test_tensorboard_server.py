"""TensorBoard, checked for real: a tiny run is trained and evaluated, a ``tensorboard --logdir``
server is started on it, and its HTTP API (what the dashboards draw from) must serve the
training and validation scalars, the confusion-matrix image ``seqtagger-eval`` logs, and the
HPARAMS session with the run's final metrics. Reading the event files directly
(``tests/test_eval.py``) cannot catch a tag layout or an hparams record TensorBoard will not show.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.helpers import (
    compose_config,
    compose_train,
    tiny_ner_overrides,
)
from tools import tensorboard_screenshots

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("tensorboard") is None,
        reason="the tensorboard binary is not on PATH (it comes with `pip install tensorboard`, "
        "a seqtagger dependency)",
    ),
]

TRAIN_RUN = "train/runs/tiny/tensorboard"  # TensorBoard names a run by its folder under logdir
EVAL_RUN = "eval/runs/tiny/tensorboard"
EPOCHS = 2


@pytest.fixture(scope="module")
def logdir(tiny_ner_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``logs/`` of a 2-epoch tiny run and the evaluation of its best checkpoint on dev."""
    from seqtagger.eval import evaluate
    from seqtagger.train import train

    logs = tmp_path_factory.mktemp("logs")
    run = logs / "train" / "runs" / "tiny"
    overrides = [f"trainer.max_epochs={EPOCHS}", "trainer.log_every_n_steps=5"]
    train(compose_train([*tiny_ner_overrides(tiny_ner_dir), *overrides], run))
    best = sorted((run / "checkpoints").glob("epoch_*.ckpt"))[-1]
    sets = [f"ckpt_path={best}", f"+sets.dev={tiny_ner_dir / 'dev.txt'}", "device=cpu"]
    evaluate(compose_config("eval", sets, logs / "eval" / "runs" / "tiny"))
    return logs


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:16]
    return struct.unpack(">II", data[16:24])


def test_tensorboard_serves_scalars_images_and_hparams(logdir: Path) -> None:
    script = tensorboard_screenshots
    get = script.get_json
    final = json.loads((logdir / "train" / "runs" / "tiny" / "metrics.json").read_text())

    with script.tensorboard_server(logdir, log=logdir / "tensorboard.log") as url:
        # scalars: every stage's metrics under the training run, one validation point per epoch
        expected = {"train/loss", "train/acc", "val/loss", "val/acc", "val/f1", "val/f1_best"}
        expected |= {"test/f1", "test/acc", "lr-Adam"}

        def scalar_tags() -> dict[str, dict]:
            return get(f"{url}/data/plugin/scalars/tags")

        def loaded() -> bool:  # the server reads the event files in the background
            tags = scalar_tags()
            return expected <= set(tags.get(TRAIN_RUN, {})) and "dev/f1" in tags.get(EVAL_RUN, {})

        script.wait_until(loaded, timeout=60, what=f"scalars {sorted(expected)}")
        tags = scalar_tags()
        assert {"dev/acc", "dev/f1"} <= set(tags[EVAL_RUN])
        series = get(f"{url}/data/plugin/scalars/scalars?run={quote(TRAIN_RUN)}&tag=val/f1")
        assert len(series) == EPOCHS
        assert all(0.0 <= value <= 1.0 for _, _, value in series)
        loss = get(f"{url}/data/plugin/scalars/scalars?run={quote(TRAIN_RUN)}&tag=train/loss")
        assert len(loss) == EPOCHS and all(value > 0 for _, _, value in loss)

        # images: the confusion matrix (and the per-type F1 chart) of the evaluated set
        images = get(f"{url}/data/plugin/images/tags")
        assert {"dev/confusion", "dev/per_type_f1"} <= set(images[EVAL_RUN])
        samples = get(
            f"{url}/data/plugin/images/images?run={quote(EVAL_RUN)}&tag=dev/confusion&sample=0"
        )
        assert len(samples) == 1
        png = script.get_bytes(f"{url}/data/plugin/images/individualImage?{samples[0]['query']}")
        width, height = png_size(png)
        assert width >= 300 and height >= 300, (width, height)

        # hparams: the run's hyperparameters and its final metrics, as one session
        experiment = get(f"{url}/data/plugin/hparams/experiment", {"experimentName": ""})
        hparams = {info["name"] for info in experiment["hparamInfos"]}
        assert {"model/optimizer/lr", "model/encoder/hidden_size", "seed", "tags"} <= hparams
        metric_tags = {info["name"]["tag"] for info in experiment["metricInfos"]}
        assert {"hp/test/f1", "hp/test/acc", "hp/val/f1_best"} <= metric_tags
        request = {
            "experimentName": "",
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_RUNNING"],
            "colParams": [{"metric": {"tag": "hp/test/f1"}}, {"hparam": "model/optimizer/lr"}],
            "startIndex": 0,
            "sliceSize": 10,
        }
        groups = get(f"{url}/data/plugin/hparams/session_groups", request)["sessionGroups"]
        assert [group["name"] for group in groups] == [TRAIN_RUN]
        assert groups[0]["hparams"]["model/optimizer/lr"] == pytest.approx(0.002)
        values = {m["name"]["tag"]: m["value"] for m in groups[0]["metricValues"]}
        for name in ("test/f1", "test/acc"):
            assert values[f"hp/{name}"] == pytest.approx(final[name], abs=1e-6), name
