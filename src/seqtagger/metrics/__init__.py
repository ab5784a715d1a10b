"""seqtagger.metrics."""
