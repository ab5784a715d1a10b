"""Sentence splitting of raw text, on the tokens of :mod:`seqtagger.inference.tokenizer`.

Why a rule set of our own: segtok and pysbd were last released in 2021 and spaCy's sentencizer
pulls in spaCy; the kept libraries (sentencex, nupunkt) split a string on their own idea of
words, so a boundary could fall inside one of our tokens (a URL, an e-mail address, ``3.5``), and
they are not in the package index the project installs from. Splitting our tokens keeps every
sentence a run of whole tokens with their character offsets, and the rules are few and fixed:

1. A sentence ends after ``.``, ``!``, ``?``, ``…`` or ``...`` (a run of them counts as one
   stop), with the closing quotes and brackets written right after the stop (``He left.” Then``
   ends after ``”``; in ``He left. “Then`` the quote opens the next sentence)::

       "Obama visited Berlin. Then he flew to Tokyo! Merkel stayed home."  -> 3 sentences

2. ...unless the next token starts with a lowercase letter (``wait... what``, and abbreviations
   the tokenizer splits, as ``approx.`` or ``fig.``, when a lowercase word follows them)::

       "It costs approx. nothing."  -> 1 sentence

3. Abbreviations the tokenizer keeps whole (``U.S.``, ``e.g.``, ``Mr.``, ``Inc.``:
   :data:`~seqtagger.inference.tokenizer.ABBREVIATIONS`) never end a sentence, nor does the
   period of an initial (a single capital letter right before it: ``J. K. Rowling``). A sentence
   that ends with one runs on into the next (``He works at Acme Inc. It is big.`` is one).
4. Decimal numbers (``3.14``), URLs and e-mail addresses are single tokens, so their periods
   never end a sentence.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["split_sentences"]

STOPS = frozenset({".", "!", "?", "…", "..."})
CLOSERS = frozenset({'"', "'", "”", "’", "»", "›", ")", "]", "}"})

Token = tuple[str, int, int]  # (text, start, end): tokenize_with_offsets's triples


def split_sentences(tokens: Sequence[Token]) -> list[list[Token]]:
    """``tokens`` (with their character offsets) cut into sentences by the module's rules."""
    sentences: list[list[Token]] = []
    start = 0
    index = 0
    while index < len(tokens):
        if not _is_stop(tokens, index):
            index += 1
            continue
        end = _end_of_stop(tokens, index)
        if end < len(tokens) and not tokens[end][0][:1].islower():
            sentences.append(list(tokens[start:end]))
            start = end
        index = end
    if start < len(tokens):
        sentences.append(list(tokens[start:]))
    return sentences


def _is_stop(tokens: Sequence[Token], index: int) -> bool:
    """Whether ``tokens[index]`` is a final stop, not the period of an initial (``J.``)."""
    text, start, _ = tokens[index]
    if text != ".":
        return text in STOPS or (len(text) > 3 and set(text) == {"."})
    if index == 0:
        return True
    before, _, before_end = tokens[index - 1]
    return not (len(before) == 1 and before.isupper() and before_end == start)


def _end_of_stop(tokens: Sequence[Token], index: int) -> int:
    """The index after the run of stops at ``index`` and the closing quotes and brackets right
    after it (with no space before them: a quote after a space opens the next sentence)."""
    end = index + 1
    while end < len(tokens):
        text, start, _ = tokens[end]
        closes = text in CLOSERS and start == tokens[end - 1][2]
        if text not in STOPS and not closes:
            break
        end += 1
    return end
