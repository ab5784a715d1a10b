"""seqtagger.data."""
