"""One clear message instead of a traceback for mistakes in the user's input.

Corpora, checkpoints and config values are the user's; an error in them (a
:class:`~seqtagger.errors.UserError`, or a file-system error on one of their paths) is reported as
one line naming the file and line or the config key, with exit code 2. Anything else is a bug and
keeps its traceback (exit code 1). Hydra wraps errors raised while instantiating a ``_target_``
in its own exception; the user's error is found inside it. Set ``SEQTAGGER_TRACEBACK=1`` to get
the full traceback of a user error too (for bug reports).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from seqtagger.errors import ConfigError, UserError, find_in_chain

T = TypeVar("T")


def find_user_error(error: BaseException) -> BaseException | None:
    """``error`` itself or the first error in its cause/context chain that is the user's:
    a ``UserError`` or an ``OSError`` about a named file (not found, no permission, disk full)."""
    return find_in_chain(error, _is_users)


def _is_missing_value(error: BaseException) -> bool:
    """Whether ``error`` is OmegaConf's "a ``???`` value was left": looked up only where
    OmegaConf was imported (an error cannot come from it otherwise), so prediction never
    imports it."""
    errors = sys.modules.get("omegaconf.errors")
    return errors is not None and isinstance(error, errors.MissingMandatoryValue)


def _is_users(error: BaseException) -> bool:
    return (
        isinstance(error, UserError)
        or _is_missing_value(error)
        or (isinstance(error, OSError) and error.filename is not None)
    )


def describe(error: BaseException) -> str:
    """The one-line message for a user error (``OSError``: ``path: reason``; a config value
    left ``???``: its key)."""
    if isinstance(error, OSError) and not isinstance(error, UserError) and error.filename:
        return f"{error.filename}: {error.strerror or error}"
    if _is_missing_value(error):
        return (
            f"{error.full_key}: the config leaves it to you (???); give it on the command "
            f"line, e.g. {error.full_key}=..."
        )
    return str(error)


def report_user_error(program: str, error: BaseException) -> bool:
    """Print ``<program>: error: <message>`` on stderr and return True when ``error`` is (or
    wraps) a user error; return False for a bug, or when ``SEQTAGGER_TRACEBACK`` is set, so that
    the caller re-raises it. For entry points that return their exit code."""
    found = find_user_error(error)
    if found is None or os.environ.get("SEQTAGGER_TRACEBACK"):
        return False
    print(f"{program}: error: {describe(found)}", file=sys.stderr)
    return True


def run_command(
    program: str,
    parser: argparse.ArgumentParser,
    command: Callable[[argparse.Namespace], int],
    argv: list[str] | None = None,
) -> int:
    """An argparse entry point's exit code: ``command(args)``'s, 2 for bad options (argparse
    has printed them) or a user error (reported in one line), 0 for ``--help``; a bug raises."""
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        return command(args)
    except Exception as error:
        if report_user_error(program, error):
            return 2
        raise


@contextmanager
def user_errors(program: str) -> Iterator[None]:
    """Turn user errors into ``<program>: error: <message>`` on stderr and exit code 2."""
    try:
        yield
    except Exception as error:
        if not report_user_error(program, error):
            raise
        sys.exit(2)


def check_config_choices(overrides: list[str], config_dir: str | Path) -> None:
    """Refuse ``model=nope`` (a group override naming no file of that group) with a
    ``ConfigError`` that lists the choices; Hydra's own error spans many lines and exits 1.

    Overrides Hydra cannot parse, sweeps, ``hydra/*`` groups and runs with an extra
    ``hydra.searchpath`` are left to Hydra: their choices are not all in ``config_dir``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    if any(arg.lstrip("+").startswith("hydra.searchpath") for arg in overrides):
        return
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException:
        return
    for override in parsed:
        group, value = override.key_or_group, override.value()
        folder = Path(config_dir) / group
        if group.startswith("hydra") or not folder.is_dir() or not isinstance(value, str):
            continue
        if override.is_delete() or override.is_sweep_override():
            continue
        if not (folder / f"{value}.yaml").is_file():
            choices = ", ".join(sorted(p.stem for p in folder.glob("[!_]*.yaml")))
            raise ConfigError(
                f"{group}={value}: there is no config {value}.yaml in the config group {group} "
                f"({folder}); choose from: {choices}"
            )


HYDRA_MODES = {
    **dict.fromkeys(("--run", "-r"), "--run"),
    **dict.fromkeys(("--multirun", "-m"), "--multirun"),
    **dict.fromkeys(("--cfg", "-c"), "--cfg"),
    **dict.fromkeys(("--info", "-i"), "--info"),
    **dict.fromkeys(("--shell-completion", "-sc"), "--shell-completion"),
}


def check_hydra_modes(arguments: list[str]) -> None:
    """Refuse two of Hydra's modes in one command (``-m ... --cfg job``) and ``--resolve``
    without ``--cfg``: Hydra raises a bare ``ValueError`` for both (a traceback, exit code 1)."""
    given = list(dict.fromkeys(HYDRA_MODES[flag] for flag in _flags(arguments, HYDRA_MODES)))
    if len(given) > 1:
        raise ConfigError(
            f"{' and '.join(given)}: give one of --run, --multirun, --cfg, --info and "
            "--shell-completion (--cfg job prints the config of one run: leave out -m)"
        )
    helped = _flags(arguments, {"--help", "-h"})
    if _flags(arguments, {"--resolve"}) and "--cfg" not in given and not helped:
        raise ConfigError("--resolve resolves the config that --cfg prints: add --cfg job")


def _flags(arguments: list[str], names: Collection[str]) -> list[str]:
    """The arguments that are one of the flags ``names`` (``--cfg`` or ``--cfg=job``)."""
    return [flag for flag in (argument.split("=")[0] for argument in arguments) if flag in names]


def run_hydra_entry(program: str, hydra_main: Callable[[], T], config_dir: str | Path) -> T:
    """Run a ``@hydra.main`` function as a console entry point: user errors Hydra meets before
    the run starts (a config group choice that does not exist, a run folder that cannot be
    created, an override it cannot parse) end in one line and exit code 2, like the run's own;
    a bug keeps its traceback and exit code 1, as Hydra would print it."""
    from hydra.errors import CompactHydraException

    with user_errors(program):
        check_hydra_modes(sys.argv[1:])
        check_config_choices(sys.argv[1:], config_dir)
    # Hydra prints its errors and exits 1 unless HYDRA_FULL_ERROR asks it to re-raise them
    previous = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        return hydra_main()
    except CompactHydraException as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        print(f"{program}: error: {'; '.join(lines)}", file=sys.stderr)
        sys.exit(2)
    except Exception as error:
        if report_user_error(program, error):
            sys.exit(2)
        traceback.print_exc()
        sys.exit(1)
    finally:
        if previous is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = previous
