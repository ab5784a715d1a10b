"""Values shared by the data layer, the models and the metrics, defined once."""

IGNORE_INDEX = -100
"""Target value of positions that are not scored (padding): ``collate_batch`` pads ``tag_ids``
with it and it is the ``ignore_index`` of ``F.cross_entropy`` in the loss and the metrics."""

OUTSIDE = "O"
"""The tag of tokens outside every chunk, in all chunk schemes (IOB1, IOB2, BIOES)."""

DOCSTART = "-DOCSTART-"
"""First field of the document-boundary lines of CoNLL-2003 files: not a token, not scored."""
