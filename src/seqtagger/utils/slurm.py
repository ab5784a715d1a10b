"""SLURM facts the run needs: the run folder's name, and the checkpoints a preemption leaves.

Under SLURM every task of a job (``srun`` starts one per device) and every requeue of it must
find the same run folder, so the folder is named after the job (``${slurm_job:...}`` in
``configs/train.yaml``); elsewhere the name is the default given to the resolver (the time).

On the requeue signal Lightning's SLURM plugin (``SLURMEnvironment(auto_requeue=True)``) writes
``hpc_ckpt_N.ckpt`` into the run folder mid-epoch and requeues the job. Our length-bucketed
batch sampler cannot resume mid-epoch (Lightning would replay the epoch's first batches), so the
requeued run resumes from ``checkpoints/last.ckpt``, the end of the last whole epoch, which
continues exactly like an uninterrupted run (``StepSeed``); the mid-epoch files are removed so
that Lightning never restores one on its own (it does when ``fit`` gets no ``ckpt_path``).
"""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf

from seqtagger.utils.pylogger import RankedLogger

log = RankedLogger(__name__, rank_zero_only=True)

# job names Lightning treats as an interactive shell, not a batch job (SLURMEnvironment.detect)
INTERACTIVE_NAMES = ("bash", "interactive")


def job_name(default: str) -> str:
    """``JOBID`` (``ARRAYJOBID_TASKID`` in a job array, SLURM's own notation) inside a batch
    job; ``default`` outside SLURM and in an interactive allocation, where several runs share
    one job id."""
    job_id = os.environ.get("SLURM_JOB_ID")
    if not job_id or os.environ.get("SLURM_JOB_NAME") in INTERACTIVE_NAMES:
        return default
    array_id, task_id = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array_id}_{task_id}" if array_id and task_id else job_id


def register_resolvers() -> None:
    """``${slurm_job:DEFAULT}`` for the configs (idempotent)."""
    if not OmegaConf.has_resolver("slurm_job"):
        # cached: a submitit job re-composes its config and must keep the sweep folder its
        # launcher named (Hydra copies the resolver cache into each job)
        OmegaConf.register_new_resolver("slurm_job", job_name, use_cache=True)


def discard_partial_epoch_checkpoints(output_dir: str | Path) -> None:
    """Remove the mid-epoch ``hpc_ckpt_*.ckpt`` a preempted job left in its run folder (see the
    module docstring): the run resumes from ``last.ckpt``, or starts over when it was preempted
    in its first epoch."""
    for path in sorted(Path(output_dir).glob("hpc_ckpt_*.ckpt")):
        log.info(f"Preempted mid-epoch: resuming from the last whole epoch, removing <{path}>")
        path.unlink(missing_ok=True)  # every rank clears them before its fit: no race
