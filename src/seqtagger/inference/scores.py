"""Confidences of predicted tags, as ``Predictor.predict_scored`` reports them.

A token's score is the probability that its head gives the tag returned for it: the softmax of a
linear head, or a CRF's exact marginal (forward-backward), of the tag in the train scheme (a tag
converted to the output scheme keeps its token's score). The tags themselves are the decoded
ones (argmax, or the Viterbi path), never the argmax of the marginals.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["span_score"]


def span_score(token_scores: Sequence[float], start: int, end: int) -> float:
    """The score of the span of tokens ``[start, end)``: the smallest score among its tokens.

    It answers "how sure is the model of the span's least certain token", and it is an upper
    bound on the probability that every token of the span has exactly its returned tag (that
    event needs each of them, so it is no likelier than any one).
    """
    if not 0 <= start < end <= len(token_scores):
        raise ValueError(f"span [{start}, {end}) is not inside {len(token_scores)} tokens")
    return min(token_scores[start:end])
