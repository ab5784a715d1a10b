"""``seqtagger-serve CKPT``: serve a trained checkpoint over HTTP until stopped (Ctrl-C).

    seqtagger-serve logs/train/runs/conll/checkpoints/best.ckpt
    SEQTAGGER_SERVE_TOKEN=s3cret seqtagger-serve best.ckpt --host 0.0.0.0 --port 8080

The checkpoint is loaded as ``seqtagger-predict`` loads it (``--device``, ``--scheme``,
``--vectors``; a missing or broken checkpoint is one message and exit code 2) before the socket
is bound; then one line on stdout names the address served (``--port 0``: a free port, read it
there). Binds to 127.0.0.1 unless ``--host`` says otherwise. Logs (one line per batch formed,
uvicorn's request lines) go to stderr; ``-q`` leaves warnings and errors only. The API, the
limits and the token: ``seqtagger.serve.routes`` and ``docs/serving.md``.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from collections.abc import Callable
from functools import partial

from seqtagger.data.schemes import SCHEMES
from seqtagger.errors import ConfigError, InputError
from seqtagger.serve import PROG, TOKEN_ENV
from seqtagger.serve.queries import Limits
from seqtagger.utils.cli import report_user_error
from seqtagger.utils.console import QUIET, VERBOSE, add_verbosity_flags

log = logging.getLogger("seqtagger.serve")
EXTRA_HINT = "pip install 'seqtagger[serve]' (FastAPI and uvicorn)"


def _positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    """An argparse type: a number of ``kind`` above 0."""

    def parse(value: str) -> int | float:
        number = kind(value)
        if not number > 0:
            raise argparse.ArgumentTypeError(f"expected a number above 0, got {value}")
        return number

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def _port(value: str) -> int:
    number = int(value)
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"expected 0 (any free port) to 65535, got {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Serve a trained seqtagger checkpoint over HTTP."
    )
    add = parser.add_argument
    add("ckpt", nargs="?", metavar="CKPT", help="checkpoint file written by seqtagger-train")
    add("--ckpt", dest="ckpt_option", metavar="CKPT", help="the checkpoint, as an option")
    add("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    add("--port", type=_port, default=8000, help="port; 0: any free port (default: 8000)")
    add("--token", help=f"shared token clients send as a Bearer token (default: ${TOKEN_ENV})")
    add("--max-batch", type=_positive(int), default=64, help="most sentences in a batch (64)")
    add("--max-wait-ms", type=float, default=5.0, help="how long a batch waits to fill (5 ms)")
    limits, positive = Limits(), _positive(int)
    add("--max-body-bytes", type=positive, default=limits.max_body_bytes, help="a body (1 MiB)")
    add("--max-sentences", type=positive, default=limits.max_sentences, help="a request (1000)")
    add("--max-tokens", type=positive, default=limits.max_tokens, help="a sentence (1000)")
    add("--max-chars", type=positive, default=limits.max_chars, help="a request's text (100000)")
    add("--timeout", type=_positive(float), default=limits.timeout_s, help="a request (30 s)")
    add("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where to run")
    add("--scheme", choices=SCHEMES, help="output scheme of span tags (default: iob2)")
    add("--vectors", metavar="FOLDER", help="the vector store's folder, if it moved since training")
    add("--threads", type=_positive(int), help="torch threads (default: torch's own choice)")
    add_verbosity_flags(
        parser,
        quiet="warnings and errors only on stderr (no batch or request lines)",
        verbose="also seqtagger's debug messages",
    )
    return parser


def check_args(args: argparse.Namespace) -> argparse.Namespace:
    """Settle the checkpoint and the token, refuse what cannot work (``ConfigError``)."""
    if args.ckpt and args.ckpt_option:
        raise ConfigError("CKPT and --ckpt: give the checkpoint once")
    args.ckpt = args.ckpt or args.ckpt_option
    if not args.ckpt:
        raise ConfigError("no checkpoint: seqtagger-serve CKPT (a file written by seqtagger-train)")
    if args.max_wait_ms < 0:
        raise ConfigError(f"--max-wait-ms {args.max_wait_ms:g}: it must be 0 or more")
    if args.token is None:
        args.token = os.environ.get(TOKEN_ENV)
    if args.token is not None and not args.token.strip():
        raise ConfigError(f"--token (or ${TOKEN_ENV}) is empty: give a token, or none")
    return args


def limits_of(args: argparse.Namespace) -> Limits:
    return Limits(
        max_body_bytes=args.max_body_bytes,
        max_sentences=args.max_sentences,
        max_tokens=args.max_tokens,
        max_chars=args.max_chars,
        timeout_s=args.timeout,
    )


def check_extra() -> None:
    """Refuse to start without the web stack (the optional extra ``serve``)."""
    from importlib.util import find_spec

    missing = [name for name in ("fastapi", "uvicorn") if find_spec(name) is None]
    if missing:
        raise ConfigError(f"{PROG} needs {' and '.join(missing)}: {EXTRA_HINT}")


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one), or an ``InputError``.

    The socket is made with the protocol ``IPPROTO_TCP``, not 0 (``socket.create_server``'s):
    asyncio turns Nagle's algorithm off (``TCP_NODELAY``) only on connections whose socket says
    it is TCP, and with it on, every answer on a kept-alive connection waited about 40 ms for
    the client's delayed acknowledgement."""
    sock = None
    try:
        family, kind, proto, _, where = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(where)
        sock.listen(2048)
    except OSError as error:
        if sock is not None:
            sock.close()
        reason = error.strerror or error
        raise InputError(f"--host {host} --port {port}: cannot listen there ({reason})") from error
    return sock


def address(sock: socket.socket) -> str:
    """``http://HOST:PORT`` of a bound socket (an IPv6 host in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def predict_args(args: argparse.Namespace) -> argparse.Namespace:
    """``seqtagger-predict``'s options for loading the model as it does (its parser fills in
    the options serve does not have, so its loader keeps working as it grows)."""
    from seqtagger.predict import build_parser

    argv = ["--ckpt", str(args.ckpt), "--device", args.device]
    argv += ["--batch-size", str(args.max_batch), "--window", str(max(4096, args.max_batch))]
    argv += ["--scheme", args.scheme] if args.scheme else []
    argv += ["--vectors", args.vectors] if args.vectors else []
    return build_parser().parse_args(argv)


def serve(args: argparse.Namespace) -> None:
    """Load the model, bind, announce the address, serve until stopped."""
    import torch
    import uvicorn

    from seqtagger.predict import load_predictor
    from seqtagger.serve.card import model_card, model_summary
    from seqtagger.serve.routes import create_app
    from seqtagger.serve.tagging import tag_queries

    if args.threads:
        torch.set_num_threads(args.threads)
    predictor = load_predictor(predict_args(args))
    card = model_card(args.ckpt, model_summary(predictor, args.ckpt))
    app = create_app(
        partial(tag_queries, predictor),
        card,
        limits_of(args),
        max_batch=args.max_batch,
        max_wait_s=args.max_wait_ms / 1000,
        token=args.token,
    )
    sock = listen(args.host, args.port)
    level = logging.WARNING if args.verbosity == QUIET else logging.INFO
    config = uvicorn.Config(
        app, log_config=None, log_level=level, access_log=args.verbosity != QUIET
    )
    server = uvicorn.Server(config)
    auth = "token required" if args.token else "no token"
    print(f"{PROG}: serving {args.ckpt} on {address(sock)} ({auth})", flush=True)
    log.info("%s on %s; batches of up to %d sentences", args.ckpt, predictor.device, args.max_batch)
    server.run(sockets=[sock])


def _set_up_logging(verbosity: int) -> None:
    level = {QUIET: logging.WARNING, VERBOSE: logging.DEBUG}.get(verbosity, logging.INFO)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for name in ("seqtagger", "uvicorn"):
        logging.getLogger(name).setLevel(level)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 stopped, 2 bad options or checkpoint, 1 a bug)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse has printed usage and the error (or --help)
        return int(exit_.code or 0)
    _set_up_logging(args.verbosity)
    try:
        check_args(args)
        check_extra()
        serve(args)
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        if report_user_error(PROG, error):
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
