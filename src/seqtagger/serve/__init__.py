"""``seqtagger-serve``: a trained checkpoint behind an HTTP API (FastAPI on uvicorn).

    seqtagger-serve logs/train/runs/conll/checkpoints/best.ckpt --port 8000

The modules, in the order a request meets them: ``app`` (the command line: options, loading the
checkpoint, binding the socket, running uvicorn), ``routes`` (the API, the shared token, the
body size limit), ``queries`` (a ``POST /predict`` body checked against the limits),
``worker`` (the one model worker: a queue, batches of requests that wait together) and
``tagging`` (one batch of queries through the :class:`~seqtagger.inference.Predictor`, out in
the text API's documents). ``card`` answers ``GET /model``. The web stack is the optional extra
``serve`` (``pip install 'seqtagger[serve]'``); ``--help`` and option errors need none of it.
"""

from __future__ import annotations

PROG = "seqtagger-serve"  # the command, as its messages name it
TOKEN_ENV = "SEQTAGGER_SERVE_TOKEN"  # the shared token, when --token is not given
