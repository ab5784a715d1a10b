"""The HTTP API: ``POST /predict``, ``GET /health``, ``GET /model`` (a FastAPI app).

Every answer is JSON; a refusal is ``{"detail": message}`` with its status: 400 (not JSON, a
wrong field), 401 (no or a wrong token), 413 (over a limit), 504 (over the time limit). With a
shared token, every request but ``GET /health`` needs ``Authorization: Bearer <token>``
(compared in constant time). The body is read as it streams in and refused (413) as soon as it
passes ``--max-body-bytes``, or at once when its ``Content-Length`` says it will. Bodies are
parsed and checked here by :mod:`seqtagger.serve.queries`, not by FastAPI's models, so that a
mistake gets 400 and a message naming the field.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from seqtagger.errors import UserError
from seqtagger.serve.queries import TOO_LARGE, Limits, Query, RequestError, parse_query
from seqtagger.serve.worker import BatchingWorker

if TYPE_CHECKING:
    from seqtagger.inference.text import Document

PUBLIC_PATHS = frozenset({"/health"})  # answered without the token
# bytes of a refused body read and thrown away, so the client can read the 413 before the
# connection closes (closing with unread data resets it)
DRAIN_LIMIT = 16 << 20


class BearerToken:
    """ASGI middleware: 401 for a request outside :data:`PUBLIC_PATHS` without the token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in PUBLIC_PATHS:
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                message = "missing or wrong token: send the header Authorization: Bearer <token>"
                response = _refusal(401, message, {"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(
    run_batch: Callable[[Sequence[Query]], list[list[Document]]],
    card: dict[str, Any],
    limits: Limits,
    *,
    max_batch: int = 64,
    max_wait_s: float = 0.005,
    token: str | None = None,
) -> FastAPI:
    """The app: ``run_batch`` tags a batch of queries in the model worker (``tag_queries``
    bound to a Predictor); ``card``: ``GET /model``'s answer."""
    worker = BatchingWorker(run_batch, max_batch, max_wait_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        worker.start()
        yield
        await worker.stop()

    app = FastAPI(
        title="seqtagger", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.worker = worker
    if token:
        app.add_middleware(BearerToken, token=token)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "model_loaded": True,
            "queue": worker.queued,
            "busy": worker.busy,
            "batches": worker.stats.to_dict(),
        }

    @app.get("/model")
    async def model() -> dict[str, Any]:
        return card

    @app.post("/predict")
    async def predict(request: Request) -> JSONResponse:
        try:
            async with asyncio.timeout(limits.timeout_s):
                body = await read_body(request, limits.max_body_bytes)
                query = await run_in_threadpool(parse_query, body, limits)
                documents = await worker.submit(query)
        except RequestError as error:
            return _refusal(error.status, error.message)
        except TimeoutError:
            return _refusal(
                504,
                f"the request took over {limits.timeout_s:g} s (--timeout) and was withdrawn; "
                "send less text at once, or retry when the server is less busy",
            )
        except UserError as error:
            return _refusal(400, str(error))
        return JSONResponse({"documents": [document.to_dict() for document in documents]})

    return app


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, refused with 413 once it passes ``limit`` bytes (or its
    ``Content-Length`` says it will); a refused body is drained so the client reads the 413."""
    stream = request.stream()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        await _drain(stream)
        raise RequestError(TOO_LARGE, _too_large(f"{int(declared):,} bytes", limit))
    chunks, size = [], 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            await _drain(stream)
            raise RequestError(TOO_LARGE, _too_large(f"over {limit:,} bytes", limit))
        chunks.append(chunk)
    return b"".join(chunks)


async def _drain(stream: AsyncIterator[bytes]) -> None:
    """Read and drop the rest of a refused body, up to :data:`DRAIN_LIMIT` bytes."""
    read = 0
    with suppress(ClientDisconnect):
        async for chunk in stream:
            read += len(chunk)
            if read > DRAIN_LIMIT:
                return


def _too_large(size: str, limit: int) -> str:
    return (
        f"the request body is {size}; this server takes at most {limit:,} bytes a request "
        "(--max-body-bytes): send the text in parts"
    )


def _refusal(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status, headers=headers)
