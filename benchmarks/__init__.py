"""seqtagger's benchmarks, one package run as ``python -m benchmarks NAME [ARGS...]``.

``benchmark`` (seqtagger against plain PyTorch) is built from ``parts`` (one function per
measurement) on the corpora of ``corpus``; the other modules each time one thing. Nothing is
imported here, so that ``flair`` runs in flair's own environment without seqtagger.
"""
