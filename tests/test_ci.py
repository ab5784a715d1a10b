"""What CI and the install extras promise: the notebooks extra installs what the notebooks import,
``.ci/run`` runs them as a user would, and the SLURM daemons it starts are stopped again."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from tests.helpers import REPO_ROOT

CI_RUN = REPO_ROOT / ".ci" / "run"
LOCAL_CLUSTER = REPO_ROOT / "scripts" / "slurm" / "local_cluster.sh"


def top_level_imports(source: str) -> set[str]:
    """The top-level modules a piece of Python imports (``import a.b``, ``from a import b``)."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module.split(".")[0])
    return modules


def requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", requirement)[0].lower() for requirement in requirements}


def test_the_notebooks_extra_installs_what_the_notebooks_import() -> None:
    """A module a notebook imports and the package does not comes from the notebooks extra
    (pandas arrived only through datasets, which may drop it)."""
    notebooks = set()
    for path in sorted((REPO_ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for cell in cells:
            if cell["cell_type"] == "code":
                notebooks |= top_level_imports("".join(cell["source"]))
    package = set()
    for path in (REPO_ROOT / "src" / "seqtagger").rglob("*.py"):
        package |= top_level_imports(path.read_text(encoding="utf-8"))
    extra_only = notebooks - package - set(sys.stdlib_module_names) - {"seqtagger"}
    assert {"pandas", "IPython"} <= extra_only  # the test sees the imports at all

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = requirement_names(project["optional-dependencies"]["notebooks"])
    distributions = packages_distributions()
    missing = {
        module
        for module in extra_only
        if not {name.lower() for name in distributions.get(module, [module])} & declared
    }
    assert missing == set()


def test_ci_runs_the_notebooks_as_a_user_does() -> None:
    """A venv made for the step (no system site packages), the notebooks extra, jupyter execute."""
    script = CI_RUN.read_text(encoding="utf-8")
    assert re.search(r'python -m venv "\$scratch/venv"\n', script)
    assert 'venv/bin/pip" install -q -e ".[notebooks]"' in script
    assert "jupyter execute notebooks/*.ipynb" in script


def test_ci_stops_the_slurm_daemons_it_started_however_it_ends() -> None:
    """The EXIT trap is set before the cluster starts and stops what this run recorded only."""
    lines = CI_RUN.read_text(encoding="utf-8").splitlines()
    trap = lines.index("trap cleanup EXIT")
    start = next(i for i, line in enumerate(lines) if "scripts/slurm/local_cluster.sh ||" in line)
    cleanup = lines[lines.index("cleanup() {") : trap]
    assert trap < start
    assert any("bash scripts/slurm/local_cluster.sh stop" in line for line in cleanup)
    # a file of this run's own: daemons recorded by an earlier run by hand are not this run's
    assert 'export LOCAL_CLUSTER_STARTED="$scratch/local_cluster.started"' in lines[:trap]


def running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie has stopped: its parent has yet to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_local_cluster_stop_stops_the_daemons_it_started_and_no_others(tmp_path: Path) -> None:
    """A fake daemon (a copy of ``sleep`` under a daemon's name) runs before; the script starts
    a second one of that name: ``stop`` ends the second only."""
    name = f"fake{os.getpid() % 100000}d"
    daemon = tmp_path / name
    shutil.copy(shutil.which("sleep") or "/bin/sleep", daemon)
    launcher = tmp_path / "launch.sh"  # starts the daemon in the background and returns, as one
    launcher.write_text(f'"{daemon}" 300 >"{tmp_path / "daemon.log"}" 2>&1 &\n')
    env = {**os.environ, "LOCAL_CLUSTER_STARTED": str(tmp_path / "started")}
    before = subprocess.Popen([daemon, "300"])
    started = 0
    try:
        record = f'source "{LOCAL_CLUSTER}"; start_recorded {name} bash "{launcher}"'
        subprocess.run(["bash", "-c", record], env=env, check=True, timeout=60)
        recorded_name, pid = (tmp_path / "started").read_text().split()
        started = int(pid)
        assert recorded_name == name and started != before.pid and running(started)

        command = ["bash", str(LOCAL_CLUSTER), "stop"]
        stop = subprocess.run(command, env=env, timeout=60, capture_output=True, text=True)
        assert stop.returncode == 0, stop.stderr
        assert f"stopped {name} (pid {started})" in stop.stderr
        assert not running(started)
        assert before.poll() is None  # the daemon that ran before is left running
        assert not (tmp_path / "started").exists()
    finally:
        before.kill()
        before.wait()
        if started and running(started):
            os.kill(started, 9)


def test_local_cluster_stop_skips_a_recorded_pid_now_held_by_another_program(
    tmp_path: Path,
) -> None:
    other = subprocess.Popen(["sleep", "300"])
    try:
        (tmp_path / "started").write_text(f"slurmctld {other.pid}\n")
        env = {**os.environ, "LOCAL_CLUSTER_STARTED": str(tmp_path / "started")}
        subprocess.run(["bash", str(LOCAL_CLUSTER), "stop"], env=env, check=True, timeout=60)
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()
