"""seqtagger.models."""
