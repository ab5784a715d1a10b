"""Copy a finished training run's ``metrics.json`` under ``docs/results/`` with what produced it.

    python -m tools.collect_results logs/train/runs/NAME --wall-s 912 --note "1 thread"

Writes ``docs/results/<experiment>/seed<seed>/metrics.json`` (the run's own file, unchanged) and
``run.json`` beside it: the command as run (from ``.hydra/overrides.yaml``), the headline metric,
epochs trained, the best (checkpointed) epoch, wall time and hardware. ``python -m
tools.results_table`` turns these into the results page and the README's table, so every number
there is backed by a file here.

``--as-recipe EXPERIMENT`` files a run made with overrides under a recipe that now holds them:
the recipe's config (``experiment=EXPERIMENT`` and the run's seed) is composed and compared with
the run's resolved ``config.yaml``; any difference other than the run's own folder refuses,
except keys named by ``--ignore`` (recorded). The command becomes the recipe's, and
``command_as_run`` keeps what ran.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import torch
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "docs" / "results"


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def epochs_trained(run: Path) -> int:
    found = re.findall(r"epoch (\d+)/\d+:", (run / "train.log").read_text())
    return int(found[-1]) if found else 0


def best_epoch(run: Path) -> int | None:
    names = sorted((run / "checkpoints").glob("epoch_*.ckpt"))
    return int(names[-1].stem.split("_")[1]) + 1 if names else None


def this_machine() -> str:
    return f"{cpu_name()}, {os.cpu_count()} cores, no GPU, torch {torch.__version__}"


def recipe_config(experiment: str, seed: int, run_name: str) -> dict:
    """The train config of ``experiment=EXPERIMENT`` as it composes now, resolved (keys that
    need Hydra's runtime, the run folder's, stay unresolved)."""
    overrides = [f"experiment={experiment}", f"seed={seed}", f"run_name={run_name}"]
    with initialize_config_dir(version_base="1.3", config_dir=str(REPO / "configs")):
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
        resolved = {}
        for key in (key for key in cfg if key != "hydra"):
            try:
                value = cfg[key]
                resolved[key] = (
                    OmegaConf.to_container(value, resolve=True)
                    if OmegaConf.is_config(value)
                    else value
                )
            except Exception:  # a key that needs Hydra's runtime (the run's folder)
                resolved[key] = None
    return resolved


MACHINE_KEYS = (".paths.", ".data.data_dir", ".data.cache_dir", ".tags")
"""Keys that say where a run ran (folders), not what it ran."""


def differences(ran: object, now: object, output_dir: str, path: str = "") -> list[str]:
    """Keys whose values differ, except ``MACHINE_KEYS`` and the run's own folder."""
    if isinstance(ran, dict) and isinstance(now, dict):
        found = []
        for key in sorted(set(ran) | set(now)):
            found += differences(ran.get(key), now.get(key), output_dir, f"{path}.{key}")
        return found
    machine = path.startswith(MACHINE_KEYS) or (isinstance(ran, str) and ran.startswith(output_dir))
    return [] if ran == now or machine else [f"{path}: ran {ran!r}, recipe {now!r}"]


def check_recipe(run: Path, experiment: str, config: dict, ignore: list[str]) -> list[str]:
    """The differences between the run's config and the recipe's that ``ignore`` (keys the
    filer vouches do not change what is trained) allows; any other refuses."""
    now = recipe_config(experiment, config["seed"], config["run_name"])
    found = differences(config, now, config["paths"]["output_dir"])
    refused = [d for d in found if d.split(":")[0].lstrip(".") not in ignore]
    if refused:
        raise SystemExit(f"{run} is not experiment={experiment}:\n" + "\n".join(refused))
    return found


def collect(
    run: Path,
    wall_s: float,
    note: str,
    experiment: str | None = None,
    hardware: str | None = None,
    as_recipe: str | None = None,
    ignore: list[str] | None = None,
) -> Path:
    overrides = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text())
    config = yaml.safe_load((run / "config.yaml").read_text())
    named = next(o.split("=", 1)[1] for o in overrides if o.startswith("experiment="))
    experiment = as_recipe or experiment or named
    args = [o for o in overrides if not o.startswith("run_name=")]
    as_run, ignored = "seqtagger-train " + " ".join(args), []
    if as_recipe:
        ignored = check_recipe(run, as_recipe, config, ignore or [])
        args = [f"experiment={as_recipe}", f"seed={config['seed']}"]
    target = RESULTS / experiment / f"seed{config['seed']}"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run / "metrics.json", target / "metrics.json")
    record = {
        "experiment": experiment,
        "seed": config["seed"],
        "command": "seqtagger-train " + " ".join(args),
        **({"command_as_run": as_run} if as_recipe else {}),
        **({"differences_ignored": ignored} if ignored else {}),
        "headline": f"test/{config['data']['headline']}",
        "epochs_trained": epochs_trained(run),
        "max_epochs": config["trainer"]["max_epochs"],
        "best_epoch": best_epoch(run),
        "wall_s": round(wall_s, 1),
        "hardware": hardware or this_machine(),
        "note": note,
    }
    (target / "run.json").write_text(json.dumps(record, indent=2) + "\n")
    return target


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="the run folder (logs/train/runs/NAME)")
    parser.add_argument("--wall-s", type=float, required=True, help="the command's wall time")
    parser.add_argument("--note", default="", help="how it ran (threads, what ran beside it)")
    parser.add_argument(
        "--experiment", help="file the run under this experiment (its config must equal the run's)"
    )
    parser.add_argument(
        "--hardware", help="where it ran, for a run made on another machine (default: this one)"
    )
    parser.add_argument(
        "--as-recipe", help="file under this experiment, whose config now equals the run's"
    )
    parser.add_argument(
        "--ignore",
        nargs="*",
        default=[],
        help="with --as-recipe: config keys whose difference does not change what is trained "
        "(e.g. model.train_scores_every, added after the run); recorded in run.json",
    )
    args = parser.parse_args(argv)
    target = collect(
        args.run,
        args.wall_s,
        args.note,
        args.experiment,
        args.hardware,
        args.as_recipe,
        args.ignore,
    )
    print(target)


if __name__ == "__main__":
    main()
