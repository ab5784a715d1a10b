"""Tools that maintain the docs and the results: run as ``python -m tools.NAME``."""
