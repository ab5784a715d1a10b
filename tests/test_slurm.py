"""SLURM on a real (local, one-node) cluster: sbatch with two tasks, a requeue mid-training that
resumes exactly, a submitit sweep and an Optuna search through it.
``bash scripts/slurm/local_cluster.sh`` (as root) sets the cluster up; without one those tests
(marked ``slurm``, run with ``pytest -m slurm``) skip.
The run folder's name and the clean-up after a preemption are checked without a cluster."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from seqtagger.training.startup import resolve_ckpt_path
from seqtagger.utils.slurm import job_name
from tests.helpers import (
    checkout_env,
    compose_train,
    tiny_ner_overrides,
)
from tests.search_helpers import check_search, tiny_search_overrides

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "slurm" / "train.sbatch"
# small CPU jobs: two tasks of one CPU each, sharing the node with the other test jobs
SBATCH_OPTIONS = ["--ntasks-per-node=2", "--gres=none", "--cpus-per-task=1", "--oversubscribe"]
BATCHES_PER_EPOCH = 8  # 240 training sentences, batch size 16, 2 ranks


SLURM_VARIABLES = ("SLURM_JOB_ID", "SLURM_JOB_NAME", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID")


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({}, "the-time"),
        ({"SLURM_JOB_ID": "77", "SLURM_JOB_NAME": "seqtagger"}, "77"),
        (
            {"SLURM_JOB_ID": "78", "SLURM_ARRAY_JOB_ID": "70", "SLURM_ARRAY_TASK_ID": "3"},
            "70_3",
        ),
        # an interactive allocation (salloc, srun --pty bash) runs many trainings: the time
        ({"SLURM_JOB_ID": "79", "SLURM_JOB_NAME": "interactive"}, "the-time"),
    ],
)
def test_run_folder_is_named_by_the_slurm_job(
    variables: dict[str, str], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in SLURM_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert job_name("the-time") == expected


def test_train_config_names_the_run_after_the_job(
    tiny_ner_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in SLURM_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    cfg = compose_train(tiny_ner_overrides(tiny_ner_dir), tmp_path)
    assert cfg.run_name == "4242" and cfg.hydra.run.dir.endswith("/runs/4242")


def test_auto_resume_drops_mid_epoch_checkpoints_and_takes_last_ckpt(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    (tmp_path / "checkpoints").mkdir()
    last = tmp_path / "checkpoints" / "last.ckpt"
    shutil.copy(tiny_checkpoint, last)
    shutil.copy(tiny_checkpoint, tmp_path / "hpc_ckpt_1.ckpt")  # what Lightning writes on USR1
    assert resolve_ckpt_path("auto", tmp_path) == str(last)
    # Lightning restores hpc_ckpt_* on its own when fit() gets no checkpoint: none may remain
    assert not list(tmp_path.glob("hpc_ckpt_*"))


@pytest.fixture(scope="module")
def partition() -> str:
    """The cluster's default partition; skips when no SLURM controller answers."""
    if shutil.which("sbatch") is None:
        pytest.skip("sbatch not found: set up a local cluster with scripts/slurm/local_cluster.sh")
    try:
        out = subprocess.run(
            ["sinfo", "--noheader", "-o", "%P"], capture_output=True, text=True, timeout=15
        )
    except subprocess.TimeoutExpired:
        out = None
    if out is None or out.returncode != 0 or not out.stdout.strip():
        pytest.skip("no SLURM controller answers (sinfo): run scripts/slurm/local_cluster.sh")
    names = out.stdout.split()
    return next((name for name in names if name.endswith("*")), names[0]).rstrip("*")


def train_overrides(tiny_dir: Path, epochs: int) -> list[str]:
    """The tiny NER tagger on the CPU, gloo between the ranks."""
    return [
        *tiny_ner_overrides(tiny_dir),
        "trainer.accelerator=cpu",
        "trainer.precision=32-true",
        "+trainer.enable_progress_bar=false",
        "extras.print_config=false",
        f"trainer.max_epochs={epochs}",
    ]


def job_env(folder: Path) -> dict[str, str]:
    """Jobs run this checkout (``SEQTAGGER_TRAIN``) with a datasets cache of their own."""
    return checkout_env(
        SEQTAGGER_TRAIN=f"{sys.executable} -m seqtagger.train",
        SEQTAGGER_CACHE_DIR=str(folder / "cache"),
    )


def sbatch(folder: Path, partition: str, overrides: list[str], wait: bool = False) -> str:
    """Submit ``train.sbatch`` from ``folder`` (runs go to folder/logs); return the job id."""
    folder.mkdir(parents=True, exist_ok=True)
    options = [f"--partition={partition}", *SBATCH_OPTIONS, f"--output={folder}/%j.out"]
    command = ["sbatch", "--parsable", *(["--wait"] if wait else []), *options]
    out = subprocess.run(
        [*command, str(SCRIPT), *overrides],
        cwd=folder,
        env=job_env(folder),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0 or not wait, out.stderr
    return out.stdout.strip().split(";")[0]


def job_info(job: str) -> dict[str, str]:
    """``scontrol show job`` as a dict (JobState, Restarts, ...); {} once SLURM forgot it."""
    out = subprocess.run(["scontrol", "-o", "show", "job", job], capture_output=True, text=True)
    return dict(re.findall(r"(\w+)=(\S*)", out.stdout))


def wait_until(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def finished(job: str) -> bool:
    return job_info(job).get("JobState") in {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", None}


def run_dir(folder: Path, job: str) -> Path:
    return folder / "logs" / "train" / "runs" / job


def epoch_lines(log: str) -> list[str]:
    """The metrics of each epoch's summary line in a log (wall times left out)."""
    return re.findall(r"(epoch \d+/\d+: .*?) \|", log)


@pytest.mark.slurm
def test_sbatch_two_tasks_train_into_one_folder_named_by_the_job(
    partition: str, tiny_ner_dir: Path, tmp_path: Path
) -> None:
    job = sbatch(tmp_path, partition, train_overrides(tiny_ner_dir, 2), wait=True)
    assert job_info(job)["JobState"] == "COMPLETED"
    runs = tmp_path / "logs" / "train" / "runs"
    assert [path.name for path in runs.iterdir()] == [job]  # one folder, named by the job
    run = run_dir(tmp_path, job)
    output = (tmp_path / f"{job}.out").read_text()
    assert "MEMBER: 1/2" in output and "MEMBER: 2/2" in output  # srun started both ranks
    for name in ("config.yaml", "metrics.json", "train.log", "checkpoints/last.ckpt"):
        assert (run / name).is_file(), name
    events = (run / "tensorboard").glob("events.out.tfevents.*")
    assert len({path.name.split(".")[-2] for path in events}) == 1  # written by one process
    log = (run / "train.log").read_text()
    assert log.count("epoch 1/2:") == 1 and log.count("epoch 2/2:") == 1
    assert json.loads((run / "metrics.json").read_text())["test/f1"] >= 0


@pytest.mark.slurm
def test_requeued_job_resumes_from_its_last_epoch_and_matches_an_uninterrupted_run(
    partition: str, tiny_ner_dir: Path, tmp_path: Path
) -> None:
    epochs = 4
    overrides = [
        *train_overrides(tiny_ner_dir, epochs),
        "+callbacks.throttle._target_=tests.helpers.Throttle",
        "+callbacks.throttle.seconds=0.2",
    ]
    reference = sbatch(tmp_path / "reference", partition, overrides)
    job = sbatch(tmp_path / "requeued", partition, overrides)
    resumed = run_dir(tmp_path / "requeued", job)
    last = resumed / "checkpoints" / "last.ckpt"
    wait_until(last.is_file, 300, f"job {job}'s first last.ckpt")
    subprocess.run(["scancel", "--signal=USR1", job], check=True)  # what SLURM sends at --signal
    # SLURM holds a requeued job back for a while (BeginTime); here it may start at once
    wait_until(lambda: job_info(job).get("JobState") == "PENDING", 60, f"job {job}'s requeue")
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True)
    wait_until(lambda: finished(job) and finished(reference), 300, "both jobs")

    info = job_info(job)
    assert info["JobState"] == "COMPLETED" and int(info["Restarts"]) == 1, info
    output = (tmp_path / "requeued" / f"{job}.out").read_text()
    assert "Handling auto-requeue signal" in output and f"Requeued SLURM job: {job}" in output
    log = (resumed / "train.log").read_text()
    saved = re.search(
        r"Resuming from <.*last\.ckpt>\n.*saved in epoch (\d+), global step (\d+)", log
    )
    assert saved, log
    epoch, step = map(int, saved.groups())
    assert 1 <= epoch < epochs and step == epoch * BATCHES_PER_EPOCH
    assert log.count(f"epoch {epochs}/{epochs}:") == 1  # the full number of epochs, once
    assert not list(resumed.glob("hpc_ckpt_*.ckpt"))
    expected = run_dir(tmp_path / "reference", reference)
    # the epochs trained after the requeue, the final weights and the test metrics all match
    after_resume = log.split("Resuming from")[-1]
    assert epoch_lines(after_resume) == epoch_lines((expected / "train.log").read_text())[epoch:]
    final = [torch.load(run / "checkpoints/last.ckpt")["state_dict"] for run in (resumed, expected)]
    assert final[0].keys() == final[1].keys()
    assert all(torch.equal(final[0][name], final[1][name]) for name in final[0])
    metrics = [json.loads((run / "metrics.json").read_text()) for run in (resumed, expected)]
    assert metrics[0] == pytest.approx(metrics[1], abs=1e-6)


def submit_multirun(
    partition: str, overrides: list[str], cwd: Path, flags: tuple[str, ...] = ()
) -> None:
    """``seqtagger-train FLAGS hydra/launcher=slurm OVERRIDES`` in ``cwd``, one small job per
    run, waited for; it must succeed (Hydra's flags go before the overrides)."""
    command = [
        *(sys.executable, "-m", "seqtagger.train", *flags, "hydra/launcher=slurm"),
        f"hydra.launcher.partition={partition}",
        *("hydra.launcher.cpus_per_task=1", "hydra.launcher.timeout_min=10"),
        *overrides,
    ]
    out = subprocess.run(
        command, cwd=cwd, env=job_env(cwd), capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]


def slurm_jobs(sweep: Path) -> set[str]:
    """The job ids (``JOBID_TASK``) submitit kept files for under ``sweep``."""
    names = {path.name for path in (sweep / ".submitit").iterdir()}
    return {name for name in names if re.fullmatch(r"\d+_\d+", name)}


@pytest.mark.slurm
def test_submitit_sweep_runs_each_trial_as_a_job_in_its_own_folder(
    partition: str, tiny_ner_dir: Path, tmp_path: Path
) -> None:
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="pip install .[slurm]")
    overrides = [*train_overrides(tiny_ner_dir, 1), "seed=1,2"]
    submit_multirun(partition, overrides, tmp_path, flags=("-m",))
    (sweep,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    assert len(slurm_jobs(sweep)) == 2
    for trial, seed in (("0", 1), ("1", 2)):
        run = sweep / trial
        assert (run / "metrics.json").is_file() and (run / "train.log").is_file()
        assert f"seed: {seed}\n" in (run / "config.yaml").read_text()


@pytest.mark.slurm
def test_optuna_search_runs_each_trial_as_a_slurm_job(
    partition: str, tiny_ner_dir: Path, tmp_path: Path
) -> None:
    """``hparams_search=bilstm_optuna hydra/launcher=slurm``: two trials as two jobs at once,
    the diverging one scored -inf, the summary written beside them."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="pip install .[slurm]")
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="pip install .[sweeps]")
    search = [*tiny_search_overrides(tiny_ner_dir, trials=2), "hydra.sweeper.n_jobs=2"]
    submit_multirun(partition, search, tmp_path)
    sweep = tmp_path / "logs" / "train" / "multiruns" / "search"
    assert len(slurm_jobs(sweep)) == 2
    check_search(sweep, trials=2)
