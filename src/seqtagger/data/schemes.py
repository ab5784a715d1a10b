"""Tag schemes (plain, IOB1, IOB2, BIOES): span extraction, conversion and validation.

Span extraction follows conlleval.pl (CoNLL-2000 shared task) exactly, so that our scores are
the ones the literature reports: a chunk starts at ``B-X``, or at ``I-X`` after ``O`` or after a
token of another type; it ends before ``O``, before ``B-*``, before a type change and at the end of
the sentence.  BIOES is first mapped token by token onto IOB2 prefixes (``S``/``B`` -> ``B``,
``I``/``E`` -> ``I``, except ``B`` right after ``E``/``S`` because that chunk was closed).
We wrote this by hand instead of using seqeval because ``metrics/span_f1.py`` must reproduce
the very same rules with tensor ops (and seqeval's BIOES handling differs from the rule above);
one small documented rule set here lets the tests check the tensor version against it.

Positions in messages and spans are 0-based; ``Span.end`` is exclusive.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from seqtagger.constants import OUTSIDE
from seqtagger.errors import SchemeError

log = logging.getLogger(__name__)

SCHEMES = ("plain", "iob1", "iob2", "bioes")
# Ill-formed tag orders (I-X after O in IOB2, B-X after O in IOB1) in at most this share of a
# split's sentences are annotation noise, scored as conlleval does (CoNLL-2003 train has two);
# more mean that the declared scheme is not the file's (IOB1 read as BIOES breaks most chunks).
ILL_FORMED_SHARE = 0.01
# Prefixes each scheme may use; plain tags are opaque labels (POS) and carry no prefix.
_PREFIXES = {"iob1": "BIO", "iob2": "BIO", "bioes": "BIOES"}


@dataclass(frozen=True, order=True)
class Span:
    """A typed chunk over tokens ``[start, end)`` (``end`` exclusive)."""

    type: str
    start: int
    end: int


def split_tag(tag: str) -> tuple[str, str]:
    """Split ``"B-PER"`` into ``("B", "PER")`` and ``"O"`` into ``("O", "")``.

    The type may itself contain ``-`` (split on the first one, as conlleval.pl does since 2004).
    Anything else (no prefix, unknown prefix, empty type, whitespace) raises ``SchemeError``.
    """
    if tag == OUTSIDE:
        return OUTSIDE, ""
    prefix, sep, type_ = tag.partition("-")
    if not sep or prefix not in ("B", "I", "E", "S") or not type_ or any(c.isspace() for c in tag):
        raise SchemeError(
            f"malformed tag {tag!r}: expected {OUTSIDE!r} or PREFIX-TYPE with PREFIX in B, I, E, S"
        )
    return prefix, type_


def check_scheme(name: str) -> str:
    """Return the lower-cased scheme name, or raise ``SchemeError`` listing the valid ones."""
    scheme = str(name).lower()
    if scheme not in SCHEMES:
        raise SchemeError(f"unknown tag scheme {name!r}; expected one of {', '.join(SCHEMES)}")
    return scheme


def convertible_schemes(scheme: str) -> tuple[str, ...]:
    """The schemes tags in ``scheme`` convert to: ``plain`` labels (POS) only to ``plain``, chunk
    tags (NER) to every chunk scheme; a model is scored on sets in these schemes only."""
    if check_scheme(scheme) == "plain":
        return ("plain",)
    return tuple(name for name in SCHEMES if name != "plain")


def _split_for_scheme(tags: Sequence[str], scheme: str) -> list[tuple[str, str]]:
    """Split every tag and reject prefixes the scheme does not use (e.g. ``E-`` in IOB2)."""
    allowed = _PREFIXES[scheme]
    pairs = []
    for i, tag in enumerate(tags):
        try:
            prefix, type_ = split_tag(tag)
        except SchemeError as err:
            raise SchemeError(f"position {i}: {err}") from None
        if prefix not in allowed:
            raise SchemeError(
                f"position {i}: tag {tag!r} is not valid in scheme {scheme} "
                f"(prefixes {', '.join(allowed)})"
            )
        pairs.append((prefix, type_))
    return pairs


def to_iob2_prefixes(tags: Sequence[str], scheme: str) -> list[tuple[str, str]]:
    """Map tags token by token onto ``(prefix, type)`` with prefix in ``B``, ``I``, ``O``.

    IOB1/IOB2 prefixes pass through unchanged; BIOES ``B``/``S`` become ``B``, ``I``/``E`` become
    ``I`` unless the previous raw prefix is ``E`` or ``S`` (that chunk was closed), then ``B``.
    This is not a full IOB2 normalisation: ``I-X`` after ``O`` stays ``I`` (``get_spans`` decides
    whether it starts a chunk, and strict mode uses the ``I`` to drop it).
    """
    scheme = check_scheme(scheme)
    if scheme == "plain":
        raise SchemeError("scheme plain has no chunk prefixes")
    pairs = _split_for_scheme(tags, scheme)
    if scheme != "bioes":
        return pairs
    out = []
    prev = OUTSIDE
    for prefix, type_ in pairs:
        if prefix in ("B", "S") or (prefix in ("I", "E") and prev in ("E", "S")):
            out.append(("B", type_))
        elif prefix in ("I", "E"):
            out.append(("I", type_))
        else:
            out.append((OUTSIDE, ""))
        prev = prefix
    return out


def get_spans(tags: Sequence[str], scheme: str = "iob2", strict: bool = False) -> list[Span]:
    """Chunks of one sentence in conlleval.pl's segmentation, ordered by start.

    ``strict=True`` drops chunks whose first (IOB2-mapped) prefix is not ``B``, like seqeval's
    strict mode; for IOB1 every segment is a valid chunk, so strict equals lenient there.
    The plain scheme has no spans.
    """
    scheme = check_scheme(scheme)
    if scheme == "plain":
        return []
    drop_ill_formed = strict and scheme != "iob1"
    spans: list[Span] = []
    start, first, cur_type = -1, OUTSIDE, ""

    def close(end: int) -> None:
        if start >= 0 and not (drop_ill_formed and first != "B"):
            spans.append(Span(cur_type, start, end))

    prev_type = ""
    for i, (prefix, type_) in enumerate(to_iob2_prefixes(tags, scheme)):
        is_start = prefix == "B" or (prefix == "I" and prev_type != type_)
        if prefix == OUTSIDE or is_start:
            close(i)
            start = -1
        if is_start:
            start, first, cur_type = i, prefix, type_
        prev_type = type_
    close(len(tags))
    return spans


def spans_to_tags(spans: Iterable[Span], length: int, scheme: str) -> list[str]:
    """Write non-overlapping ``spans`` as ``length`` tags in ``scheme``.

    IOB1 uses ``B-X`` only where a chunk directly follows another chunk of type ``X``.
    """
    scheme = check_scheme(scheme)
    if scheme == "plain":
        raise SchemeError("scheme plain has no chunks to write")
    tags = [OUTSIDE] * length
    prev_end, prev_type = -1, ""
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        if not (0 <= span.start < span.end <= length) or not span.type:
            raise SchemeError(f"{span} is empty, untyped or outside a sentence of {length} tokens")
        if span.start < prev_end:
            raise SchemeError(f"{span} overlaps the previous span ending at {prev_end}")
        n = span.end - span.start
        if scheme == "iob2":
            prefixes = ["B"] + ["I"] * (n - 1)
        elif scheme == "iob1":
            first = "B" if prev_end == span.start and prev_type == span.type else "I"
            prefixes = [first] + ["I"] * (n - 1)
        else:
            prefixes = ["S"] if n == 1 else ["B"] + ["I"] * (n - 2) + ["E"]
        tags[span.start : span.end] = [f"{p}-{span.type}" for p in prefixes]
        prev_end, prev_type = span.end, span.type
    return tags


def rewrite_tags(tags: Sequence[str], source: str, target: str) -> list[str]:
    """``tags`` as conlleval reads them in ``source``, written well formed in ``target`` (also
    when the schemes are equal: ``O I-X`` in IOB2 becomes ``O B-X``, the same chunks). This is
    what a model learns from, so that every gold sequence is one a constrained decoder can emit.
    Plain tags are returned as they are."""
    source, target = check_scheme(source), check_scheme(target)
    if source == target == "plain":
        return list(tags)
    if "plain" in (source, target):
        raise SchemeError(f"cannot convert tags from {source} to {target}")
    return spans_to_tags(get_spans(tags, source), len(tags), target)


def convert_tags(tags: Sequence[str], source: str, target: str) -> list[str]:
    """Re-write ``tags`` from ``source`` to ``target`` scheme, keeping the lenient spans.

    Identity (a copy) when the schemes are equal; plain cannot be converted to or from others.
    """
    if check_scheme(source) == check_scheme(target):
        return list(tags)
    return rewrite_tags(tags, source, target)


def _pair_problem(
    prev: tuple[str, str], cur: tuple[str, str], scheme: str, at_end: bool = False
) -> tuple[bool, str] | None:
    """Why ``cur`` may not follow ``prev`` in ``scheme``, or ``None`` if it may.

    Returns ``(about_prev, message)``: ``about_prev`` when the fault is the previous token's
    (a BIOES chunk left open).  ``at_end``: ``cur`` stands for the end of the sentence.
    """
    (pp, pt), (cp, ct) = prev, cur
    prev_tag = f"{pp}-{pt}" if pt else pp
    cur_tag = "the sentence end" if at_end else (f"{cp}-{ct}" if ct else cp)
    name = scheme.upper()
    continues = pp in ("B", "I") and pt == ct
    if scheme == "iob2" and cp == "I" and not continues:
        return False, f"{cur_tag} after {prev_tag} is not valid {name}"
    if scheme == "iob1" and cp == "B" and not continues:
        return False, (
            f"{cur_tag} after {prev_tag} is not valid {name} "
            f"(B-{ct} only starts a chunk right after another {ct} chunk)"
        )
    if scheme == "bioes":
        if pp in ("B", "I") and not (cp in ("I", "E") and ct == pt):
            return True, f"{prev_tag} followed by {cur_tag} is not valid {name} (chunk not closed)"
        if cp in ("I", "E") and not continues:
            return False, f"{cur_tag} after {prev_tag} is not valid {name}"
    return None


def transition_rules(
    labels: Sequence[str], scheme: str
) -> tuple[list[list[bool]], list[bool], list[bool]]:
    """Which label may follow which under ``scheme``: ``(allowed[i][j]`` (label j right after
    label i), ``start[j]`` (j first), ``end[i]`` (i last)), by the rules of :func:`validate_tags`
    (a well-formed sequence uses allowed steps only). Everything is allowed for ``plain``."""
    scheme = check_scheme(scheme)
    n = len(labels)
    if scheme == "plain":
        return [[True] * n for _ in range(n)], [True] * n, [True] * n
    split = [split_tag(label) for label in labels]
    outside = (OUTSIDE, "")
    allowed = [[_pair_problem(a, b, scheme) is None for b in split] for a in split]
    start = [_pair_problem(outside, b, scheme) is None for b in split]
    end = [_pair_problem(a, outside, scheme, at_end=True) is None for a in split]
    return allowed, start, end


def validate_tags(tags: Sequence[str], scheme: str) -> list[str]:
    """Human-readable problems with ``tags`` under ``scheme`` (0-based positions); ``[]`` if valid.

    IOB2: ``I-X`` must follow ``B-X``/``I-X``.  IOB1: ``B-X`` must follow ``B-X``/``I-X``.
    BIOES: ``B``/``I`` must be continued by ``I``/``E`` of the same type, and ``I``/``E`` must
    continue ``B``/``I`` of the same type.  Plain: any non-empty tag without whitespace.
    """
    scheme = check_scheme(scheme)
    problems: list[tuple[int, str]] = []
    if scheme == "plain":
        for i, tag in enumerate(tags):
            if not tag or any(c.isspace() for c in tag):
                problems.append((i, f"tag {tag!r} is empty or contains whitespace"))
        return _format_problems(problems)
    allowed = _PREFIXES[scheme]
    pairs: list[tuple[str, str]] = []
    for i, tag in enumerate(tags):
        try:
            prefix, type_ = split_tag(tag)
        except SchemeError as err:
            problems.append((i, str(err)))
            prefix, type_ = OUTSIDE, ""
        if prefix not in allowed:
            problems.append((i, f"prefix {prefix} of {tag!r} is not used in {scheme}"))
            prefix, type_ = OUTSIDE, ""
        pairs.append((prefix, type_))
    padded = [(OUTSIDE, ""), *pairs, (OUTSIDE, "")]
    for i in range(1, len(padded)):
        problem = _pair_problem(padded[i - 1], padded[i], scheme, at_end=i == len(padded) - 1)
        if problem is not None:
            about_prev, message = problem
            problems.append((i - 2 if about_prev else i - 1, message))
    return _format_problems(problems)


def _format_problems(problems: list[tuple[int, str]]) -> list[str]:
    return [f"position {i}: {message}" for i, message in sorted(problems, key=lambda p: p[0])]


SEEN_TAG_SEQUENCES = 10_000
"""Tag sequences ``check_split_tags`` remembers (NER repeats many; memory stays bounded)."""


def check_split_tags(
    tag_lists: Iterable[Sequence[str]],
    scheme: str,
    *,
    name: str,
    key: str,
    locate: Callable[[int], str],
    schemes: Sequence[str] = SCHEMES,
) -> None:
    """Check every sentence's tags against the declared ``scheme`` of a split or eval set.

    A tag the scheme cannot have (malformed, or ``E-X`` in IOB2) raises ``SchemeError``; so do
    ill-formed tag orders in more than :data:`ILL_FORMED_SHARE` of the sentences (a wrong
    declaration), while fewer are logged as a warning. ``name`` is the split in messages
    (``data.files.train``, ``sets.dev``), ``key`` the config key of the scheme, and
    ``locate(i)`` says where sentence ``i`` is (``path:LINE``); it is called only for messages.
    ``schemes``: the ones the message suggests (an eval set: those the model can be scored in).
    """
    scheme = check_scheme(scheme)
    fix = f"set {key} to the file's tag scheme ({', '.join(schemes)}) or fix the tags"
    ill_formed: list[int] = []
    first_problem = ""
    seen: dict[tuple[str, ...], tuple[str, bool] | None] = {}  # many share a tag sequence
    n = 0
    for n, tags in enumerate(tag_lists, 1):
        sequence = tuple(tags)
        if sequence not in seen:
            if len(seen) >= SEEN_TAG_SEQUENCES:  # bounded: most POS sentences are unique
                seen.clear()
            seen[sequence] = _sentence_problem(sequence, scheme)
        if seen[sequence] is None:
            continue
        problem, order_only = seen[sequence]
        if not order_only:
            raise SchemeError(f"{name}: {locate(n - 1)}: {problem} (scheme {scheme}; {fix})")
        ill_formed.append(n - 1)
        first_problem = first_problem or problem
    if not ill_formed:
        return
    where = f"{len(ill_formed)} of {n} sentences"
    first = f"first at {locate(ill_formed[0])}: {first_problem}"
    if len(ill_formed) > ILL_FORMED_SHARE * n:
        raise SchemeError(f"{name}: {where} do not fit scheme {scheme} ({first}); {fix}")
    log.warning(
        f"{name}: {where} have an ill-formed {scheme} tag order, scored as conlleval does ({first})"
    )


def _sentence_problem(tags: Sequence[str], scheme: str) -> tuple[str, bool] | None:
    """``(first problem, whether only the tag order is wrong)`` of one sentence, or None."""
    problems = validate_tags(tags, scheme)
    if not problems:
        return None
    if scheme == "plain":
        return problems[0], False
    try:
        _split_for_scheme(tags, scheme)
    except SchemeError as err:  # a tag the scheme cannot have
        return str(err), False
    return problems[0], True


def label_types(labels: Iterable[str]) -> list[str]:
    """Sorted entity types in a label set (``["B-PER", "I-LOC", "O"]`` -> ``["LOC", "PER"]``)."""
    return sorted({type_ for _, type_ in map(split_tag, labels) if type_})


def scheme_labels(types: Iterable[str], scheme: str) -> list[str]:
    """Every tag of ``scheme`` for entity ``types``: ``O`` first, then each type's prefixes
    (``["LOC"], "bioes"`` -> ``["O", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]``)."""
    scheme = check_scheme(scheme)
    if scheme == "plain":
        raise SchemeError("the plain scheme has no prefixed labels; use the label set itself")
    prefixes = [prefix for prefix in _PREFIXES[scheme] if prefix != OUTSIDE]
    return [OUTSIDE] + [f"{prefix}-{type_}" for type_ in types for prefix in prefixes]
