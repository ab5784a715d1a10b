"""seqtagger: token-level sequence tagging with torch, Lightning and Hydra."""

__version__ = "0.1.0"
