"""The documentation site (``docs/``, Sphinx with MyST Markdown pages): its table of contents
names exactly the manual's pages, it builds with warnings as errors, and every ``seqtagger-*``
command on a page or in the README that the README tests cannot run (it needs a GPU, SLURM or
the hub) is at least parsed by its command line: ``--cfg job`` for train and eval, the argument
parser for predict and serve. The commands they can run, ``tests/test_readme_commands.py`` runs."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, checkout_env, run_hydra_main
from tests.readme import ShellCommand, shell_commands, skip_reason

DOCS_DIR = REPO_ROOT / "docs"
# the manual's pages in the order of the site's table of contents (docs/index.md)
PAGES = [
    "getting-started",
    "corpus",
    "results",
    "configuration",
    "scaling",
    "evaluation",
    "prediction",
    "serving",
    "export",
    "models",
    "hyperparameter-search",
    "tensorboard",
    "performance",
    "architecture",
    "troubleshooting",
    "changes",
    "api",
]
# pages Sphinx writes itself, after the documents: a page of the same name would be replaced
SPHINX_PAGES = {"search", "genindex", "py-modindex"}
SITE_PACKAGES = ("sphinx", "myst_parser", "furo")  # the docs extra (pyproject.toml)
HYDRA_PROGRAMS = {"seqtagger-train", "seqtagger-eval"}
_TOCTREE = re.compile(r"^```\{toctree\}\n(?P<body>.*?)^```", re.MULTILINE | re.DOTALL)


def toctree_entries(markdown: str) -> list[str]:
    """The documents a page's ``{toctree}`` blocks list, in order (options and blanks left out)."""
    entries: list[str] = []
    for block in _TOCTREE.finditer(markdown):
        lines = (line.strip() for line in block["body"].splitlines())
        entries += [line for line in lines if line and not line.startswith(":")]
    return entries


def test_the_site_contents_list_every_page_once() -> None:
    """A page left out of the table of contents is an orphan nobody finds; one listed but
    missing breaks the build."""
    entries = toctree_entries((DOCS_DIR / "index.md").read_text(encoding="utf-8"))
    assert entries == PAGES
    missing = [page for page in PAGES if not (DOCS_DIR / f"{page}.md").is_file()]
    assert missing == [], f"pages in docs/index.md without a file: {missing}"
    orphans = sorted({path.stem for path in DOCS_DIR.glob("*.md")} - {*PAGES, "index"})
    assert orphans == [], f"pages not in docs/index.md's table of contents: {orphans}"


def test_no_page_is_named_as_a_page_sphinx_writes_itself() -> None:
    """Sphinx's search box page is ``search.html``: a ``search.md`` page would vanish behind
    it without a warning."""
    pages = {path.stem for path in DOCS_DIR.glob("*.md")}
    assert pages & SPHINX_PAGES == set()


# ----- commands the README tests skip: parsed, not run -----


def cli_calls(command: ShellCommand) -> list[list[str]]:
    """The ``seqtagger-*`` command lines in ``command``: its ``seqtagger-*`` stages (without
    redirections) and the overrides an sbatch script passes on to ``seqtagger-train``."""
    calls: list[list[str]] = []
    for stage in command.stages:
        args = list(stage)
        for redirect in (">", ">>", "<"):
            while redirect in args:
                del args[args.index(redirect) : args.index(redirect) + 2]
        if args[0].startswith("seqtagger-"):
            calls.append(args)
        elif args[0] == "sbatch":
            script = next(i for i, arg in enumerate(args) if arg.endswith(".sbatch"))
            calls.append(["seqtagger-train", *args[script + 1 :]])
    return calls


def unrun_commands() -> list[ShellCommand]:
    """The commands the README tests skip that name a ``seqtagger-*`` command line, once each."""
    unique = {command.text: command for command in reversed(shell_commands())}
    skipped = [command for command in unique.values() if skip_reason(command) is not None]
    return sorted((c for c in skipped if cli_calls(c)), key=lambda c: (c.source, c.line))


def one_run(args: list[str]) -> list[str]:
    """A multirun's overrides as one run's: ``-m`` dropped, each sweep at its first value."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = [arg for arg in args if arg not in {"-m", "--multirun"}]
    single = []
    for override in OverridesParser.create().parse_overrides(overrides):
        if override.is_sweep_override():
            first = next(iter(override.sweep_string_iterator()))
            single.append(f"{override.get_key_element()}={first}")
        else:
            single.append(override.input_line)
    return single


def parse_hydra_command(argv: list[str], monkeypatch, capsys) -> tuple[int, str]:
    """``PROGRAM --cfg job OVERRIDES`` in this process: Hydra composes the config (config
    groups, keys, values) and prints it, without running the job."""
    from hydra.core.global_hydra import GlobalHydra

    from seqtagger.eval import main as eval_main
    from seqtagger.train import main as train_main

    if "hydra/launcher=slurm" in argv and not has_submitit_launcher():
        pytest.skip("the SLURM launcher needs the slurm extra: pip install -e '.[slurm]'")
    GlobalHydra.instance().clear()
    main = train_main if argv[0] == "seqtagger-train" else eval_main
    return run_hydra_main(main, [argv[0], "--cfg", "job", *one_run(argv[1:])], monkeypatch, capsys)


def has_submitit_launcher() -> bool:
    """Whether Hydra's submitit launcher (the slurm extra) is installed."""
    try:
        return importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is not None
    except ModuleNotFoundError:  # no Hydra plugin at all
        return False


# the programs with an argparse command line, by the module of their ``build_parser``
ARGPARSE_PROGRAMS = {
    "seqtagger-predict": "seqtagger.predict",
    "seqtagger-serve": "seqtagger.serve.app",
}


def parse_argparse_command(argv: list[str]) -> tuple[int, str]:
    """The program's own argument parser on the command's arguments."""
    build_parser = importlib.import_module(ARGPARSE_PROGRAMS[argv[0]]).build_parser
    try:
        build_parser().parse_args(argv[1:])
    except SystemExit as exit_info:
        return int(exit_info.code or 0), "the argument parser refused the arguments"
    return 0, ""


UNRUN = unrun_commands()


@pytest.mark.parametrize("command", UNRUN, ids=[command.where for command in UNRUN])
def test_a_command_the_readme_tests_skip_is_parsed_by_its_cli(
    command: ShellCommand, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A misspelled key or config group in a GPU, SLURM or hub command fails here, on CPU."""
    monkeypatch.chdir(REPO_ROOT)
    for argv in cli_calls(command):
        if argv[0] in HYDRA_PROGRAMS:
            code, output = parse_hydra_command(argv, monkeypatch, capsys)
        else:
            code, output = parse_argparse_command(argv)
        assert code == 0, f"{command.where}: {command.text}\nparsed as {argv}\n{output}"


def test_the_commands_to_parse_were_found() -> None:
    """The GPU and SLURM commands of the README and the pages reach the test above."""
    programs = {call[0] for command in UNRUN for call in cli_calls(command)}
    assert {"seqtagger-train", "seqtagger-serve"} <= programs
    assert any("trainer=gpu" in command.text for command in UNRUN)


# ----- the site itself -----


def test_ci_builds_the_site_outside_the_checkout_with_warnings_as_errors() -> None:
    script = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'pip install -q -e ".[docs]"' in script
    assert 'sphinx-build -W --keep-going -q -b html docs "$scratch/site"' in script
    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    docs_extra = " ".join(extras["project"]["optional-dependencies"]["docs"])
    assert all(package.replace("_", "-") in docs_extra for package in SITE_PACKAGES)


@pytest.mark.slow
def test_the_site_builds_with_warnings_as_errors(tmp_path: Path) -> None:
    """``sphinx-build -W`` as CI runs it: a broken link, a missing page or a docstring that
    autodoc cannot render fails the build."""
    for package in SITE_PACKAGES:
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{package} is not installed: pip install -e '.[docs]'")
    site = tmp_path / "site"
    build = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    done = subprocess.run(
        [*build, str(DOCS_DIR), str(site)],
        env=checkout_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-6000:]
    assert {path.stem for path in site.glob("*.html")} >= {*PAGES, "index"}
    assert "Predictor.predict" in (site / "api.html").read_text(encoding="utf-8")
