"""Screenshots of TensorBoard for the docs: the scalars dashboard and the confusion matrix.

Usage:
    python -m tools.tensorboard_screenshots                  # train a short EWT run first
    python -m tools.tensorboard_screenshots data=conll2003   # ... with these train overrides
    python -m tools.tensorboard_screenshots --logdir logs    # take existing runs as they are

Without ``--logdir`` it trains a short run (3 epochs of 60 batches, UD English-EWT by default;
``SEQTAGGER_DATA_DIR`` as for training) and evaluates its best checkpoint on the run's test split,
in a temporary folder, because the confusion matrix is drawn by ``seqtagger-eval``. Then it
starts ``tensorboard --logdir`` on a free localhost port and photographs two pages with headless
Chromium (Debian: ``apt-get install chromium``): ``docs/tensorboard_scalars.png`` and
``docs/tensorboard_confusion.png``. ``--virtual-time-budget`` lets TensorBoard's JavaScript app
fetch and draw before the shot is taken.

``tensorboard_server`` is also what ``tests/test_tensorboard_server.py`` starts and queries.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

REPO_ROOT = Path(__file__).resolve().parents[1]
RUN_NAME = "screenshots"
# a short run whose curves still have a shape: 18 training-loss points, 3 validation points
TRAIN_OVERRIDES = [
    f"run_name={RUN_NAME}",
    "trainer.max_epochs=3",
    "trainer.limit_train_batches=60",
    "trainer.log_every_n_steps=10",
    "callbacks.rich_progress_bar=null",
]
# the curves worth a look: training loss (per step and per epoch) and accuracy, validation metrics
SCALAR_TAGS = r"^(train/(loss_step|loss|acc)|val/(loss|acc|f1))$"
# page -> (address after the server's, file under docs/, window size in CSS pixels, device
# scale factor); the dashboards keep their settings in the URL's fragment (tagFilter: a regex,
# _smoothingWeight, regexInput: the runs). The confusion image is drawn at 1.5x so that its
# counts can be read at the card size TensorBoard gives it.
PAGES: dict[str, tuple[str, str, tuple[int, int], float]] = {
    "scalars": (
        f"/?darkMode=false#scalars&_smoothingWeight=0&tagFilter={quote(SCALAR_TAGS, safe='')}",
        "tensorboard_scalars.png",
        (1400, 1000),
        1.0,
    ),
    "confusion": (
        "/?darkMode=false#images&tagFilter=confusion&regexInput=eval",
        "tensorboard_confusion.png",
        (1000, 680),
        1.5,
    ),
}


def free_port() -> int:
    """A TCP port nothing listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str, body: dict[str, Any] | None = None, timeout: float = 30) -> Any:
    """GET ``url`` (POST ``body`` as JSON when given) and decode the JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def get_bytes(url: str, timeout: float = 30) -> bytes:
    """The body of GET ``url``."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def wait_until(
    ready: Callable[[], bool],
    timeout: float,
    what: str,
    process: subprocess.Popen | None = None,
) -> None:
    """Poll ``ready`` (connection errors count as not ready) until it holds; an error when
    ``process`` ends first or ``timeout`` seconds pass. TensorBoard loads event files in the
    background, run by run, so what it serves fills in over the first seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if ready():
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
            pass
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"tensorboard exited with code {process.returncode} before {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"tensorboard: no {what} after {timeout:.0f} s")
        time.sleep(0.5)


@contextmanager
def tensorboard_server(
    logdir: Path, log: Path | None = None, timeout: float = 180
) -> Iterator[str]:
    """Start ``tensorboard --logdir`` on a free localhost port and yield its address once it
    lists the runs under ``logdir``; the server is stopped (killed if need be) on exit."""
    exe = shutil.which("tensorboard")
    if exe is None:
        raise FileNotFoundError("no tensorboard on PATH (pip install tensorboard)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [exe, "--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(port)]
    # the Python loader (not the optional Rust data server): the same code on every machine
    command += ["--load_fast=false", "--reload_interval=2"]
    with open(log or os.devnull, "ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: bool(get_json(f"{url}/data/runs")), timeout, "runs", process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def train_and_evaluate(logdir: Path, overrides: list[str]) -> None:
    """A short training run and the evaluation of its best checkpoint, under ``logdir``."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)])}
    paths = [f"paths.log_dir={logdir}"]
    train = [sys.executable, "-m", "seqtagger.train", *TRAIN_OVERRIDES, *paths, *overrides]
    subprocess.run(train, check=True, env=env)
    best = sorted((logdir / "train" / "runs" / RUN_NAME / "checkpoints").glob("epoch_*.ckpt"))[-1]
    evaluate = [sys.executable, "-m", "seqtagger.eval", f"ckpt_path={best}", f"run_name={RUN_NAME}"]
    subprocess.run([*evaluate, *paths], check=True, env=env)


def screenshot(
    url: str, path: Path, size: tuple[int, int], scale: float = 1.0, budget_ms: int = 20_000
) -> None:
    """Photograph ``url`` with headless Chromium into ``path`` (PNG): ``size`` CSS pixels at
    ``scale`` device pixels each."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise FileNotFoundError("no chromium on PATH (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        command = [
            exe,
            "--headless",
            "--no-sandbox",  # root in containers has no user namespaces for the sandbox
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={size[0]},{size[1]}",
            f"--force-device-scale-factor={scale}",
            f"--virtual-time-budget={budget_ms}",
            f"--screenshot={path}",
            url,
        ]
        subprocess.run(command, check=True, capture_output=True, timeout=300)
    if not path.is_file() or path.stat().st_size < 10_000:
        raise RuntimeError(f"chromium wrote no usable screenshot to {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logdir", type=Path, help="runs to show (default: train a short one)")
    parser.add_argument("--keep", type=Path, help="train into this folder and keep it")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs", help="folder of the PNGs")
    parser.add_argument("--budget-ms", type=int, default=20_000, help="virtual time to render")
    parser.add_argument("overrides", nargs="*", help="seqtagger-train overrides for the run")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as scratch:
        logdir = args.logdir
        if logdir is None:
            logdir = args.keep or Path(scratch) / "logs"
            train_and_evaluate(logdir, args.overrides)
        with tensorboard_server(logdir, log=Path(scratch) / "tensorboard.log") as url:
            time.sleep(5)  # one more reload: the evaluation's images are in too
            args.out.mkdir(parents=True, exist_ok=True)
            for fragment, name, size, scale in PAGES.values():
                path = args.out / name
                screenshot(url + fragment, path, size, scale, args.budget_ms)
                print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
