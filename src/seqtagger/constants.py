"""Values shared by the data layer and the models, defined once."""

IGNORE_INDEX = -100
"""Target value of positions that are not scored (padding): ``collate_batch`` pads ``tag_ids``
with it and it is the ``ignore_index`` of ``F.cross_entropy`` in the loss and the metrics."""
