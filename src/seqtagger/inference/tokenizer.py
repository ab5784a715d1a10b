"""The documented simple tokenizer used by ``predict`` on raw text.

Why hand-written: spaCy/NLTK/Moses tokenizers are heavy dependencies (models, data downloads)
and their rules change between versions, which silently shifts predictions. This one is a
single precompiled regex plus a clitic split, fast on large inputs, and its rules are fixed and
listed here. It approximates Penn Treebank tokenisation, which most English corpora follow.

Rules, in priority order (no token ever contains whitespace):

1. URLs and e-mail addresses stay whole; trailing punctuation is split off::

       "see https://x.org/a?b=1." -> ["see", "https://x.org/a?b=1", "."]
       "mail me@ex.com!"          -> ["mail", "me@ex.com", "!"]

2. Abbreviations made of a chain of single letters, each followed by a period, stay whole
   (the final period included), and so do the titles and company suffixes of ``ABBREVIATIONS``
   (as the PTB-style corpora write them). Other abbreviations ("approx.") are split::

       "the U.S. and e.g. that" -> ["the", "U.S.", "and", "e.g.", "that"]
       "Mr. Smith of Acme Inc." -> ["Mr.", "Smith", "of", "Acme", "Inc."]
       "approx. 3"              -> ["approx", ".", "3"]

3. Numbers with decimals or thousands separators stay whole (dotted versions and IP addresses
   too)::

       "3.14 and 1,000,000.50" -> ["3.14", "and", "1,000,000.50"]
       "1,2"                   -> ["1", ",", "2"]
       "v1.2.3 2.5mm"          -> ["v1.2.3", "2.5mm"]

4. Words keep internal hyphens and apostrophes::

       "state-of-the-art O'Neil" -> ["state-of-the-art", "O'Neil"]

5. English clitics are split PTB-style (straight or curly apostrophe, any case), also after an
   abbreviation::

       "don't it's we'll can't I'm" -> ["do", "n't", "it", "'s", "we", "'ll", "ca", "n't",
                                        "I", "'m"]
       "Acme Inc.'s"                -> ["Acme", "Inc.", "'s"]

6. An ellipsis ("..." or longer, or "…") and dashes ("--" or longer) are one token.
7. Any other punctuation or symbol character is its own token::

       "Hello, world!" -> ["Hello", ",", "world", "!"]

8. A combining mark (an accent of decomposed, NFD text; an Indic vowel sign) stays with the
   character before it::

       "e\u0301te\u0301 हिन्दी" -> ["e\u0301te\u0301", "हिन्दी"]

9. An emoji stays one token with what its grapheme cluster joins to it: skin-tone modifiers,
   variation selectors, zero-width-joiner sequences, tag sequences; a flag (a pair of regional
   indicators) is one token::

       "👍🏽 👩‍💻 🇩🇪" -> ["👍🏽", "👩‍💻", "🇩🇪"]

Every token is a slice of the input: :func:`tokenize_with_offsets` gives each token's start and
end character offsets, ``text[start:end] == token``.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from itertools import groupby

__all__ = ["ABBREVIATIONS", "tokenize", "tokenize_with_offsets"]

ABBREVIATIONS = (
    "Mr", "Mrs", "Ms", "Dr", "Prof", "Sr", "Jr", "St", "Gen", "Gov", "Sen", "Rep", "Rev",
    "Inc", "Corp", "Ltd", "Co", "Bros", "Cos", "Plc", "vs", "etc",
)  # fmt: skip
"""Words that keep their period (rule 2); a sentence never ends at them."""

# Combining marks (Unicode categories Mn, Mc, Me: the accent of an NFD "é", a Devanagari vowel
# sign) are not \w to Python's re, so a word would break at each one; they belong to the
# character before them. In a pattern ``{M}`` stands for them inside a character class, ``{M*}``
# for any run of them and ``{W}`` for a word character or a mark (filled in by _patterns as
# text, so ``{0,31}`` stays as it is; on ASCII chunks all three are plain ``\w`` or nothing).
# Every repetition that may be tried at many start positions of one chunk is bounded, so a long
# chunk without spaces ("abc.abc.…", "a+a+…") is tokenised in linear time, not quadratic: a URL
# scheme has at most 32 characters, an e-mail local part 64 and a domain label 63 (RFC 5321).
_URL = r"(?:[A-Za-z][A-Za-z0-9+.-]{0,31}://|www\.)\S*[\w{M}/#=&%~+-]"
_EMAIL = r"[\w{M}.+-]{1,64}@[\w{M}-]{1,63}(?:\.[\w{M}-]{1,63})+"
# Letter chain like "U.S." or "e.g."; the lookbehind stops it starting inside a word.
_ABBREV = r"(?<!\w)[^\W\d_]{M*}(?:\.[^\W\d_]{M*})+\."
_KNOWN_ABBREV = rf"(?<![\w.])(?:{'|'.join(ABBREVIATIONS)})\.(?!\w)"
# A clitic after an abbreviation's period ("Inc.'s"); after a word the clitic split does it.
_CLITIC = r"(?<=\.)['’](?i:s|re|ve|ll|d|m)(?!\w)"
# A flag, or a symbol and the modifiers, tags and zero-width-joined symbols of its cluster.
_EMOJI = (
    r"[\U0001f1e6-\U0001f1ff]{2}"
    r"|[^\w\s]{M*}(?:[\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f]|\u200d[^\w\s]{M*})+"
)
# Thousands groups must be exactly 3 digits, so "1,2" is a list, not a number.
_NUMBER = r"\d{1,3}(?:,\d{3}){1,12}(?:\.\d+)?(?!\d|,\d)|\d+(?:\.\d+)+(?!\w)"
# A period between digits stays inside a word, so "v1.2.3" and "2.5mm" are one token.
_WORD = r"{W}+(?:(?:[-'’]|(?<=\d)\.(?=\d)){W}+)*"
_ELLIPSIS_DASH = r"\.{3,}|…|-{2,}"
_PUNCT = r"[^\w\s]{M*}"

_OTHERS = (_ABBREV, _KNOWN_ABBREV, _NUMBER, _WORD, _ELLIPSIS_DASH, _CLITIC, _EMOJI, _PUNCT)
_CLITIC_RE = re.compile(r"^(.+?)(n['’]t|['’](?:s|re|ve|ll|d|m))$", re.IGNORECASE)
# Unicode has combining marks in planes 0, 1 and 14 only (a test checks every plane). A class of
# BMP characters only is a bitmap to the regex engine; one beyond it is a list of ranges tried in
# turn, 2-3 times slower, so chunks within the BMP get a pattern of the BMP's marks only.
_BMP = (range(0x10000),)
_CHUNK = re.compile(r"\S+")  # what str.split() returns, with its position
_MARK_PLANES = (*_BMP, range(0x10000, 0x20000), range(0xE0000, 0xE1000))


def tokenize(text: str) -> list[str]:
    """Split raw ``text`` into tokens following the module's rules."""
    out: list[str] = []
    for chunk in text.split():
        out.extend(_chunk_tokens(chunk))
    return out


def tokenize_with_offsets(text: str) -> list[tuple[str, int, int]]:
    """``(token, start, end)`` per token of ``text`` (the tokens of :func:`tokenize`), with
    ``text[start:end] == token``: character offsets into ``text``."""
    out: list[tuple[str, int, int]] = []
    for chunk_match in _CHUNK.finditer(text):
        chunk, offset = chunk_match.group(), chunk_match.start()
        if chunk.isalnum():  # most chunks: one token
            out.append((chunk, offset, chunk_match.end()))
            continue
        cursor = 0
        for token in _chunk_tokens(chunk):
            start = chunk.index(token, cursor)  # tokens are slices of the chunk, in order
            cursor = start + len(token)
            out.append((token, offset + start, offset + cursor))
    return out


def _chunk_tokens(chunk: str) -> list[str]:
    """The tokens of one whitespace-free ``chunk``."""
    # Most chunks are plain words; str.isalnum skips the regex for them, which roughly halves
    # the time on prose.
    if chunk.isalnum():
        return [chunk]
    tokens = _pattern_for(chunk).findall(chunk)
    return _split_clitics(tokens) if "'" in chunk or "’" in chunk else tokens


def _pattern_for(chunk: str) -> re.Pattern[str]:
    """The full pattern when ``chunk`` may hold a URL or an e-mail address, else the short one;
    knowing the marks of the planes ``chunk`` uses (none when it is ASCII)."""
    may_be_address = "@" in chunk or "://" in chunk or "www." in chunk
    if chunk.isascii():
        planes: tuple[range, ...] = ()
    else:
        planes = _BMP if max(chunk) <= "\uffff" else _MARK_PLANES
    return _patterns(planes)[0 if may_be_address else 1]


@cache
def _patterns(planes: tuple[range, ...]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(every rule, every rule but URLs and e-mails) with the combining marks of ``planes``,
    compiled on first use: listing the marks reads the Unicode database (up to 30 ms), which
    importing the module does not pay."""
    if planes:
        marks = mark_ranges(planes)
        fills = {"{M*}": f"[{marks}]*", "{W}": rf"[\w{marks}]", "{M}": marks}
    else:
        fills = {"{M*}": "", "{W}": r"\w", "{M}": ""}

    def compiled(patterns: tuple[str, ...]) -> re.Pattern[str]:
        pattern = "|".join(f"(?:{p})" for p in patterns)
        for placeholder, fill in fills.items():
            pattern = pattern.replace(placeholder, fill)
        return re.compile(pattern)

    return compiled((_URL, _EMAIL, *_OTHERS)), compiled(_OTHERS)


def mark_ranges(planes: tuple[range, ...] = _MARK_PLANES) -> str:
    """The combining marks of ``planes`` as the inside of a regex character class, one
    ``\\Uxxxxxxxx-\\Uxxxxxxxx`` range per run of consecutive code points."""
    marks = [c for plane in planes for c in plane if unicodedata.category(chr(c))[0] == "M"]
    runs = [list(run) for _, run in groupby(enumerate(marks), lambda pair: pair[1] - pair[0])]
    return "".join(f"\\U{run[0][1]:08x}-\\U{run[-1][1]:08x}" for run in runs)


def _split_clitics(tokens: list[str]) -> list[str]:
    """Split "don't" -> "do", "n't" etc.; URLs and e-mails are left whole."""
    out: list[str] = []
    for token in tokens:
        match = _CLITIC_RE.match(token) if ("'" in token or "’" in token) else None
        if match is not None and "/" not in token and "@" not in token:
            out.extend(match.groups())
        else:
            out.append(token)
    return out
