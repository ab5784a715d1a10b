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
   (the final period included). Other abbreviations ("Mr.", "etc.") are split::

       "the U.S. and e.g. that" -> ["the", "U.S.", "and", "e.g.", "that"]
       "Mr. Smith"              -> ["Mr", ".", "Smith"]

3. Numbers with decimals or thousands separators stay whole (dotted versions and IP addresses
   too)::

       "3.14 and 1,000,000.50" -> ["3.14", "and", "1,000,000.50"]
       "1,2"                   -> ["1", ",", "2"]
       "v1.2.3 2.5mm"          -> ["v1.2.3", "2.5mm"]

4. Words keep internal hyphens and apostrophes::

       "state-of-the-art O'Neil" -> ["state-of-the-art", "O'Neil"]

5. English clitics are split PTB-style (straight or curly apostrophe, any case)::

       "don't it's we'll can't I'm" -> ["do", "n't", "it", "'s", "we", "'ll", "ca", "n't",
                                        "I", "'m"]

6. An ellipsis ("..." or longer, or "…") and dashes ("--" or longer) are one token.
7. Any other punctuation or symbol character is its own token::

       "Hello, world!" -> ["Hello", ",", "world", "!"]
"""

from __future__ import annotations

import re

__all__ = ["tokenize"]

# Every repetition that may be tried at many start positions of one chunk is bounded, so a long
# chunk without spaces ("abc.abc.…", "a+a+…") is tokenised in linear time, not quadratic: a URL
# scheme has at most 32 characters, an e-mail local part 64 and a domain label 63 (RFC 5321).
_URL = r"(?:[A-Za-z][A-Za-z0-9+.-]{0,31}://|www\.)\S*[\w/#=&%~+-]"
_EMAIL = r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+"
# Letter chain like "U.S." or "e.g."; the lookbehind stops it starting inside a word.
_ABBREV = r"(?<!\w)[^\W\d_](?:\.[^\W\d_])+\."
# Thousands groups must be exactly 3 digits, so "1,2" is a list, not a number.
_NUMBER = r"\d{1,3}(?:,\d{3}){1,12}(?:\.\d+)?(?!\d|,\d)|\d+(?:\.\d+)+(?!\w)"
# A period between digits stays inside a word, so "v1.2.3" and "2.5mm" are one token.
_WORD = r"\w+(?:(?:[-'’]|(?<=\d)\.(?=\d))\w+)*"
_ELLIPSIS_DASH = r"\.{3,}|…|-{2,}"
_PUNCT = r"[^\w\s]"

_OTHERS = (_ABBREV, _NUMBER, _WORD, _ELLIPSIS_DASH, _PUNCT)
_TOKEN_RE = re.compile("|".join(f"(?:{p})" for p in (_URL, _EMAIL, *_OTHERS)))
# Chunks that cannot hold a URL or an e-mail address skip those two patterns (most of the time).
_PLAIN_TOKEN_RE = re.compile("|".join(f"(?:{p})" for p in _OTHERS))
_CLITIC_RE = re.compile(r"^(.+?)(n['’]t|['’](?:s|re|ve|ll|d|m))$", re.IGNORECASE)


def tokenize(text: str) -> list[str]:
    """Split raw ``text`` into tokens following the module's rules."""
    out: list[str] = []
    # Most whitespace-separated chunks are plain words; str.isalnum skips the regex for them,
    # which roughly halves the time on prose.
    for chunk in text.split():
        if chunk.isalnum():
            out.append(chunk)
            continue
        tokens = _pattern_for(chunk).findall(chunk)
        out.extend(_split_clitics(tokens) if "'" in chunk or "’" in chunk else tokens)
    return out


def _pattern_for(chunk: str) -> re.Pattern[str]:
    """The full pattern when ``chunk`` may hold a URL or an e-mail address, else the short one."""
    if "@" in chunk or "://" in chunk or "www." in chunk:
        return _TOKEN_RE
    return _PLAIN_TOKEN_RE


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
