"""Pure-Python port of conlleval.pl: chunk scores and its exact report text.

We ship our own port instead of calling the Perl script (no Perl dependency, works on lists in
memory, supports IOB1/IOB2/BIOES and a strict mode) and instead of seqeval (its report layout is
not conlleval's, and papers quote conlleval's numbers).  Chunks come from
``seqtagger.data.schemes.get_spans``, the single rule set that ``SpanF1`` also follows.

Differences from conlleval.pl, on purpose:

- ``-DOCSTART-`` lines are sentence boundaries and not tokens (conlleval.pl counts them as ``O``
  tokens; the usual CoNLL-2003 figures, e.g. 46435 test tokens, exclude them);
- BIOES tags are compared for token accuracy after the token-wise mapping onto IOB2 prefixes
  (``schemes.to_iob2_prefixes``); IOB1/IOB2 tags are compared as written, as conlleval.pl does.

Usage: ``python -m seqtagger.metrics.conlleval FILE [--scheme iob2] [--strict]`` (``-`` = stdin).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from seqtagger.constants import DOCSTART
from seqtagger.data.schemes import SCHEMES, SchemeError, check_scheme, get_spans, to_iob2_prefixes

BOUNDARY = "-X-"  # conlleval.pl's sentence-boundary first field


@dataclass
class ChunkCounts:
    """Chunk and token counts; per-type dicts only hold types seen in gold or predictions."""

    tokens: int = 0
    correct_tokens: int = 0
    correct: dict[str, int] = field(default_factory=dict)
    pred: dict[str, int] = field(default_factory=dict)
    gold: dict[str, int] = field(default_factory=dict)

    @property
    def types(self) -> list[str]:
        """Sorted types with at least one gold or predicted chunk (conlleval's report rows)."""
        return sorted(
            t for t in set(self.gold) | set(self.pred) if self.gold.get(t) or self.pred.get(t)
        )

    def _totals(self, type: str | None) -> tuple[int, int, int]:
        if type is None:
            return sum(self.correct.values()), sum(self.pred.values()), sum(self.gold.values())
        return self.correct.get(type, 0), self.pred.get(type, 0), self.gold.get(type, 0)

    def precision(self, type: str | None = None) -> float:
        """Fraction of predicted chunks that are correct (all types when ``type`` is None)."""
        correct, pred, _ = self._totals(type)
        return correct / pred if pred else 0.0

    def recall(self, type: str | None = None) -> float:
        """Fraction of gold chunks that were found."""
        correct, _, gold = self._totals(type)
        return correct / gold if gold else 0.0

    def f1(self, type: str | None = None) -> float:
        """Harmonic mean of precision and recall, 0 when both are 0."""
        p, r = self.precision(type), self.recall(type)
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def accuracy(self) -> float:
        """Fraction of tokens whose (IOB2-mapped) tag is right; 0 without tokens."""
        return self.correct_tokens / self.tokens if self.tokens else 0.0


def _token_keys(tags: Sequence[str], scheme: str) -> list[object]:
    """What token accuracy compares: raw tags for plain/IOB1/IOB2, IOB2-mapped pairs for BIOES."""
    if scheme == "bioes":
        return list(to_iob2_prefixes(tags, scheme))
    if scheme != "plain":
        to_iob2_prefixes(tags, scheme)  # validates the prefixes
    return list(tags)


def evaluate(
    pairs: Iterable[tuple[Sequence[str], Sequence[str]]], scheme: str = "iob2", strict: bool = False
) -> ChunkCounts:
    """Count chunks and tokens over ``(gold_tags, pred_tags)`` sentence pairs.

    A predicted chunk is correct when a gold chunk has the same type, start and end.
    """
    scheme = check_scheme(scheme)
    correct: Counter[str] = Counter()
    pred: Counter[str] = Counter()
    gold: Counter[str] = Counter()
    tokens = correct_tokens = 0
    for n, (gold_tags, pred_tags) in enumerate(pairs):
        if len(gold_tags) != len(pred_tags):
            raise ValueError(
                f"sentence {n}: {len(gold_tags)} gold tags but {len(pred_tags)} predicted tags"
            )
        try:
            gold_spans = get_spans(gold_tags, scheme, strict)
        except SchemeError as err:
            raise SchemeError(f"sentence {n}, gold tags: {err}") from None
        try:
            pred_spans = get_spans(pred_tags, scheme, strict)
        except SchemeError as err:
            raise SchemeError(f"sentence {n}, predicted tags: {err}") from None
        gold.update(s.type for s in gold_spans)
        pred.update(s.type for s in pred_spans)
        correct.update(s.type for s in set(gold_spans) & set(pred_spans))
        gold_keys, pred_keys = _token_keys(gold_tags, scheme), _token_keys(pred_tags, scheme)
        tokens += len(gold_keys)
        correct_tokens += sum(g == p for g, p in zip(gold_keys, pred_keys, strict=True))
    return ChunkCounts(tokens, correct_tokens, dict(correct), dict(pred), dict(gold))


def _read_lines(
    lines: Iterable[str], name: str
) -> Iterator[tuple[int, list[str], list[str], list[str]]]:
    """Yield ``(first_line_number, tokens, gold, pred)`` per sentence."""
    first = 0
    tokens: list[str] = []
    gold: list[str] = []
    pred: list[str] = []
    n_fields = -1
    for lineno, line in enumerate(lines, start=1):
        fields = line.split()
        if fields and fields[0] not in (BOUNDARY, DOCSTART):
            if len(fields) < 2:
                raise ValueError(
                    f"{name}:{lineno}: need at least 2 columns (gold and predicted tag)"
                )
            if n_fields >= 0 and len(fields) != n_fields:
                raise ValueError(f"{name}:{lineno}: {len(fields)} columns, expected {n_fields}")
            n_fields = len(fields)
            first = first if tokens else lineno
            tokens.append(fields[0] if len(fields) > 2 else "")
            gold.append(fields[-2])
            pred.append(fields[-1])
            continue
        if tokens:
            yield first, tokens, gold, pred
            tokens, gold, pred = [], [], []
    if tokens:
        yield first, tokens, gold, pred


def conll_token(token: str) -> str:
    """``token`` as one column of a whitespace-separated CoNLL line: every whitespace character
    inside it (``str.isspace``: space, U+00A0, ...) becomes ``_``, so ``1 000`` is ``1_000``.

    Readers reject empty, whitespace-only and multi-line tokens, so the result is never empty
    and the line keeps its column count for conlleval.pl and :func:`read_columns`.
    """
    if token.isprintable() and " " not in token:  # fast path: no whitespace at all
        return token
    return "".join("_" if c.isspace() else c for c in token)


def _read_path(path: str | Path) -> Iterator[tuple[int, list[str], list[str], list[str]]]:
    if str(path) == "-":
        yield from _read_lines(sys.stdin, "<stdin>")
        return
    with open(path, encoding="utf-8") as f:
        yield from _read_lines(f, str(path))


def read_columns(path: str | Path) -> Iterator[tuple[list[str], list[str], list[str]]]:
    """Yield ``(tokens, gold_tags, pred_tags)`` per sentence of a conlleval input file.

    Columns are whitespace-separated, gold is the second-to-last and prediction the last column;
    blank lines and lines whose first field is ``-X-`` or ``-DOCSTART-`` separate sentences.
    A token line with fewer than 2 columns, or with another number of columns than the token
    lines before it, raises ``ValueError`` naming ``file:line``.
    ``path`` ``"-"`` reads stdin.
    """
    for _, tokens, gold, pred in _read_path(path):
        yield tokens, gold, pred


def format_report(counts: ChunkCounts) -> str:
    """conlleval.pl's report text, byte for byte (its printf formats, percentages)."""
    n_correct, n_pred, n_gold = counts._totals(None)
    lines = [
        f"processed {counts.tokens} tokens with {n_gold} phrases; "
        f"found: {n_pred} phrases; correct: {n_correct}.\n"
    ]
    if counts.tokens > 0:  # conlleval.pl prints no accuracy line without tokens
        accuracy, p, r, f = (
            100 * x for x in (counts.accuracy, counts.precision(), counts.recall(), counts.f1())
        )
        lines.append(
            f"accuracy: {accuracy:6.2f}%; precision: {p:6.2f}%; recall: {r:6.2f}%; FB1: {f:6.2f}\n"
        )
    for t in counts.types:
        p, r, f = 100 * counts.precision(t), 100 * counts.recall(t), 100 * counts.f1(t)
        found = counts.pred.get(t, 0)
        lines.append(f"{t:>17}: precision: {p:6.2f}%; recall: {r:6.2f}%; FB1: {f:6.2f}  {found}\n")
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: print the conlleval report of a ``token ... gold pred`` file."""
    parser = argparse.ArgumentParser(
        prog="python -m seqtagger.metrics.conlleval",
        description="Score a 'token ... gold pred' file like conlleval.pl.",
    )
    parser.add_argument("file", nargs="?", default="-", help="input file ('-' = stdin)")
    parser.add_argument("--scheme", default="iob2", help=f"one of {', '.join(SCHEMES)}")
    parser.add_argument("--strict", action="store_true", help="drop chunks not starting with B")
    args = parser.parse_args(argv)
    sentence_line = 0

    def pairs() -> Iterator[tuple[list[str], list[str]]]:
        nonlocal sentence_line
        for line, _, gold, pred in _read_path(args.file):
            sentence_line = line
            yield gold, pred

    try:
        counts = evaluate(pairs(), args.scheme, args.strict)
    except SchemeError as err:  # bad tags: name the line where the sentence starts
        print(f"conlleval: {args.file}:{sentence_line}: {err}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as err:
        print(f"conlleval: {err}", file=sys.stderr)
        return 1
    sys.stdout.write(format_report(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
