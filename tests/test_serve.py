"""``seqtagger-serve`` (``seqtagger.serve``), checked for real: the server runs in its own process
on 127.0.0.1 (a free port) and is called over HTTP with httpx; the batching worker, the time
limit and the command line's refusals are checked in process. Commands of
``docs/serving.md``."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks.serve import server_process
from seqtagger.inference import Predictor
from seqtagger.serve.app import listen, main
from seqtagger.serve.queries import Limits, parse_query
from seqtagger.serve.worker import BatchingWorker
from tests.helpers import REPO_ROOT, checkout_env

pytest.importorskip("fastapi", reason="the optional extra seqtagger[serve]: pip install fastapi")
pytest.importorskip("uvicorn", reason="the optional extra seqtagger[serve]: pip install uvicorn")
httpx = pytest.importorskip("httpx", reason="the tests' HTTP client (the dev extra)")

CRF_CHECKPOINT = REPO_ROOT / "tests" / "checkpoints" / "format1" / "crf" / "last.ckpt"
TOKEN = "s3cret-token"
CARD = "# A CRF tagger\n\nTrained on the test corpus.\n"
TEXT = (
    "“Anna Smith visited Oslo,” said Boris 👍🏽. Then Dana Li flew to Lima!\n\n"
    "The Red Cross met Acme Corp. in Paris. Mail hana@acme.co today."
)
SENTENCES = [
    ["Anna", "Smith", "visited", "Oslo", "."],
    ["The", "Red", "Cross", "met", "Acme", "Corp", "in", "Paris"],
    ["EU", "rejects", "German", "call"],
]


@dataclass
class Server:
    url: str
    log: Path

    def post(self, body: object, **headers: str) -> httpx.Response:
        return httpx.post(f"{self.url}/predict", json=body, headers=headers, timeout=60)


@contextmanager
def running_server(args: list[str], log: Path, **env: str) -> Iterator[Server]:
    """``python -m seqtagger.serve.app ARGS --port 0``, output in ``log``; always stopped."""
    with server_process(args, log, checkout_env(**env)) as url:
        yield Server(url, log)


@pytest.fixture(scope="module")
def server(tiny_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The tiny trained tagger, alone in a folder (no model card beside it), no token, small
    limits, 50 ms for requests to join a batch."""
    folder = tmp_path_factory.mktemp("serve")
    checkpoint = shutil.copy(tiny_checkpoint, folder / "tiny.ckpt")
    limits = ["--max-body-bytes", "20000", "--max-sentences", "40", "--max-tokens", "60"]
    args = [str(checkpoint), "--max-wait-ms", "50", "--threads", "1", *limits]
    with running_server([*args, "--max-chars", "5000"], folder / "server.log") as running:
        yield running


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The committed CRF checkpoint (it tags PER, LOC and ORG spans) with ``MODEL_CARD.md``
    beside it, the token from the environment."""
    folder = tmp_path_factory.mktemp("crf")
    shutil.copy(CRF_CHECKPOINT, folder / "last.ckpt")
    (folder / "MODEL_CARD.md").write_text(CARD, encoding="utf-8")
    args = [str(folder / "last.ckpt"), "--threads", "1"]
    with running_server(args, folder / "server.log", SEQTAGGER_SERVE_TOKEN=TOKEN) as running:
        yield running


def authorized() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def assert_offsets_slice(text: str, documents: list[dict]) -> None:
    """Every document, sentence, token and span is its own slice of ``text``."""
    for document in documents:
        assert text[document["start"] : document["end"]] == document["text"]
        for sentence in document["sentences"]:
            assert text[sentence["start"] : sentence["end"]] == sentence["text"]
            for item in (*sentence["tokens"], *sentence["spans"]):
                assert text[item["start"] : item["end"]] == item["text"], item


# ----- the API -----


def test_text_in_gives_documents_whose_offsets_slice_the_text(token_server: Server) -> None:
    response = token_server.post({"text": TEXT}, **authorized())
    assert response.status_code == 200, response.text
    documents = response.json()["documents"]
    assert [d["source"] for d in documents] == [0, 0]  # a blank line starts a document
    assert_offsets_slice(TEXT, documents)
    spans = [(s["text"], s["label"]) for d in documents for t in d["sentences"] for s in t["spans"]]
    assert ("Oslo", "LOC") in spans and all("score" not in str(span) for span in spans)
    listed = token_server.post({"text": ["Anna met Boris.", "Oslo."]}, **authorized()).json()
    assert [(d["source"], d["text"]) for d in listed["documents"]] == [
        (0, "Anna met Boris."),
        (1, "Oslo."),
    ]


def test_tokens_in_are_tagged_as_the_predictor_tags_them(token_server: Server) -> None:
    response = token_server.post({"tokens": SENTENCES}, **authorized())
    assert response.status_code == 200, response.text
    [document] = response.json()["documents"]
    assert document["text"] == "\n".join(" ".join(tokens) for tokens in SENTENCES)
    assert_offsets_slice(document["text"], [document])
    sentences = document["sentences"]
    assert [[t["text"] for t in s["tokens"]] for s in sentences] == SENTENCES
    expected = Predictor.from_checkpoint(CRF_CHECKPOINT, device="cpu").predict(SENTENCES)
    assert [[t["tag"] for t in s["tokens"]] for s in sentences] == expected
    assert any(s["spans"] for s in sentences)


def test_scores_give_each_span_its_confidence(token_server: Server) -> None:
    for body in ({"text": TEXT, "scores": True}, {"tokens": SENTENCES, "scores": True}):
        documents = token_server.post(body, **authorized()).json()["documents"]
        spans = [span for d in documents for s in d["sentences"] for span in s["spans"]]
        assert spans and all(0 < span["score"] <= 1 for span in spans), spans


def test_concurrent_requests_are_answered_each_its_own_in_shared_batches(
    server: Server,
) -> None:
    """16 requests at once: every answer holds its own request's tokens and the tags that
    request gets alone, and the worker put several requests in one batch."""
    sentences = [[f"w{i}", "Anna", "visited", "Oslo", *["."] * (i % 3)] for i in range(16)]
    alone = [server.post({"tokens": [tokens]}).json() for tokens in sentences]
    before = httpx.get(f"{server.url}/health").json()["batches"]
    start = threading.Barrier(len(sentences))
    answers: list[dict | None] = [None] * len(sentences)

    def ask(index: int) -> None:
        start.wait()
        answers[index] = server.post({"tokens": [sentences[index]]}).json()

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(sentences))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert answers == alone
    health = httpx.get(f"{server.url}/health").json()
    batches = health["batches"]
    assert batches["requests"] - before["requests"] == len(sentences)
    assert batches["largest_requests"] > 1, batches
    assert health["queue"] == 0
    assert re.search(r"batch \d+: \d+ sentences from \d+ requests", server.log.read_text())


def test_a_request_over_a_limit_is_refused_with_413_and_a_message(server: Server) -> None:
    big = json.dumps({"text": "word " * 6000}).encode()  # 30 kB > --max-body-bytes 20000
    declared = httpx.post(f"{server.url}/predict", content=big, timeout=60)
    assert declared.status_code == 413 and "--max-body-bytes" in declared.json()["detail"]
    streamed = httpx.post(f"{server.url}/predict", content=iter([big[:15000], big[15000:]]))
    assert streamed.status_code == 413 and "over 20,000 bytes" in streamed.json()["detail"]
    refusals = {
        "--max-sentences": {"tokens": [["a"]] * 41},
        "--max-tokens": {"tokens": [["a"], ["b"] * 61]},
        "--max-chars": {"text": "Anna. " * 1000},
    }
    for option, body in refusals.items():
        response = server.post(body)
        assert response.status_code == 413 and option in response.json()["detail"], response.text
    assert "sentence 1 has 61 tokens" in server.post(refusals["--max-tokens"]).json()["detail"]


def test_malformed_bodies_are_refused_with_400_naming_the_field(server: Server) -> None:
    broken = httpx.post(f"{server.url}/predict", content=b'{"text": ', timeout=60)
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["detail"]
    cases = {
        "unknown field 'txt'": {"txt": "Anna"},
        "give one of 'text' (raw text) and 'tokens'": {"text": "a", "tokens": [["a"]]},
        "tokens[1][0]: expected a non-empty string, got number 3": {"tokens": [["a"], [3]]},
        "tokens[0]: an empty sentence": {"tokens": [[]]},
        "scores: expected true or false": {"text": "Anna", "scores": "yes"},
        "text: expected a string or a list of strings": {"text": 5},
        "a JSON array": [["Anna"]],
    }
    for message, body in cases.items():
        response = server.post(body)
        assert response.status_code == 400 and message in response.json()["detail"], response.text


def test_a_token_is_required_everywhere_but_health(token_server: Server, server: Server) -> None:
    url = token_server.url
    assert token_server.post({"text": "Anna"}).status_code == 401
    wrong = token_server.post({"text": "Anna"}, Authorization=f"Bearer {TOKEN}x")
    assert wrong.status_code == 401 and "Authorization: Bearer" in wrong.json()["detail"]
    assert httpx.get(f"{url}/model").status_code == 401
    assert httpx.get(f"{url}/health").status_code == 200
    assert token_server.post({"text": "Anna"}, **authorized()).status_code == 200
    assert server.post({"text": "Anna"}).status_code == 200  # no token set: none asked


def test_health_and_model_describe_the_server(token_server: Server, server: Server) -> None:
    health = httpx.get(f"{server.url}/health").json()
    assert health["status"] == "ok" and health["model_loaded"] is True
    assert {"queue", "busy", "batches"} <= set(health)
    written = httpx.get(f"{token_server.url}/model", headers=authorized()).json()
    assert written["card"] == CARD and written["card_file"].endswith("MODEL_CARD.md")
    built = httpx.get(f"{server.url}/model").json()
    [task] = built["summary"]["tasks"]
    assert built["card_file"] is None and task["name"] == "tags" and "B-PER" in task["labels"]
    schemes = [task[key] for key in ("file_scheme", "train_scheme", "output_scheme")]
    assert schemes == ["iob2", "bioes", "iob2"]
    summary = built["summary"]
    assert summary["parts"]["encoder"] == "BiLSTMEncoder" and task["head"] == "LinearHead"
    assert summary["served_task"] == "tags" and summary["headline_metric"] == "f1"
    assert "B-PER" in built["card"] and "MODEL_CARD.md" in built["card"]


def test_the_benchmark_reports_latency_and_batches(server: Server, tiny_ner_dir: Path) -> None:
    """``python -m benchmarks serve`` against a running server (never a speed asserted)."""
    from benchmarks import serve as benchmark

    out = server.log.parent / "serve.json"
    args = ["--url", server.url, "--concurrency", "1", "4", "--requests", "12"]
    benchmark.main([*args, "--corpus", str(tiny_ner_dir / "test.txt"), "--out", str(out)])
    report = json.loads(out.read_text(encoding="utf-8"))
    assert [row["concurrency"] for row in report["rows"]] == [1, 4]
    for row in report["rows"]:
        assert row["errors"] == 0 and row["p50_ms"] <= row["p99_ms"]
        counts = row["batches"]["sizes"]["requests"]
        assert sum(int(size) * n for size, n in counts.items()) == 12
    assert report["model"]["tasks"][0]["name"] == "tags"


# ----- in process: the worker, the time limit, the command line -----


def test_the_worker_keeps_options_apart_and_batches_within_max_batch() -> None:
    calls: list[list] = []

    def run(queries) -> list[int]:
        calls.append(queries)
        time.sleep(0.02)
        if any(query.size == 3 for query in queries):
            raise ValueError("three")
        return [query.size for query in queries]

    one, three, nine = ({"tokens": [["a"]] * n} for n in (1, 3, 9))
    bodies = [one] * 6 + [{"text": "Anna."}] * 2 + [three, one, nine, {**one, "scores": True}]
    queries = [parse_query(json.dumps(body).encode(), Limits()) for body in bodies]

    async def scenario() -> list:
        worker = BatchingWorker(run, max_batch=4, max_wait_s=0.05)
        worker.start()
        try:
            return await asyncio.gather(*map(worker.submit, queries), return_exceptions=True)
        finally:
            await worker.stop()

    results = asyncio.run(scenario())
    assert results[:8] == [1] * 8 and results[9:] == [1, 9, 1]
    assert isinstance(results[8], ValueError)  # its batch failed; only it gets the error
    assert [query.size for query in calls[3]] == [3, 1]  # the batch that failed, then alone
    for call in calls:
        assert len({query.options for query in call}) == 1
        assert sum(query.size for query in call) <= 4 or len(call) == 1
    assert any(len(call) > 1 for call in calls)


def test_a_request_over_the_time_limit_gets_504() -> None:
    from fastapi.testclient import TestClient

    from seqtagger.serve.routes import create_app

    def slow(queries) -> list:
        time.sleep(1.0)
        return [[] for _ in queries]

    app = create_app(slow, {}, Limits(timeout_s=0.2))
    with TestClient(app) as client:
        response = client.post("/predict", json={"text": "Anna"})
    assert response.status_code == 504 and "--timeout" in response.json()["detail"]


def test_connections_to_the_listening_socket_send_at_once() -> None:
    """Nagle's algorithm is off (``TCP_NODELAY``) on the connections asyncio accepts: with it
    on, each answer on a kept-alive connection waited for the client's delayed ACK."""
    listening = listen("127.0.0.1", 0)

    async def nodelay_of_an_accepted_connection() -> int:
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(connected, sock=listening)
        async with server:
            _, writer = await asyncio.open_connection(*listening.getsockname()[:2])
            flag = await asyncio.wait_for(accepted, 10)
            writer.close()
            return flag

    assert asyncio.run(nodelay_of_an_accepted_connection()) != 0


def test_bad_checkpoints_and_options_end_with_one_message_and_exit_2(
    capsys: pytest.CaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    cases = {
        ("missing.ckpt",): "--ckpt missing.ckpt: no such file",
        (str(tmp_path / "junk.ckpt"),): "not a loadable checkpoint",
        (): "no checkpoint",
        (str(CRF_CHECKPOINT), "--token", " "): "--token (or $SEQTAGGER_SERVE_TOKEN) is empty",
        (str(CRF_CHECKPOINT), "--host", "203.0.113.7"): "cannot listen there",
        (str(CRF_CHECKPOINT), "--port", "70000"): "expected 0 (any free port) to 65535",
        (str(CRF_CHECKPOINT), "--max-batch", "0"): "expected a number above 0",
    }
    monkeypatch.chdir(tmp_path)
    for argv, message in cases.items():
        assert main(list(argv)) == 2, argv
        captured = capsys.readouterr()
        assert message in captured.err and captured.out == "", (argv, captured.err)
