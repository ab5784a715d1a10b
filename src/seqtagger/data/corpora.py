"""Named corpora: the one place that knows each corpus' files, format, tag schemes, tag layers
and licence.

``data.corpus=ud_ewt`` (or ``{corpus: conll2003}`` as an eval set) takes the files, the reader and
the file scheme from here; ``configs/data/<corpus>.yaml`` sets only what training chooses (the
train scheme, the headline metric). To add a corpus: one entry in :data:`CORPORA` and one config
file. A corpus lives in ``<data_dir>/<folder>/``; public ones are downloaded by
``data/download.py`` when missing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial

from seqtagger.data.readers import ConllReader, ConlluReader, Reader

__all__ = ["CORPORA", "CorpusSpec"]


@dataclass(frozen=True)
class CorpusSpec:
    """A named corpus: its files per split, download URLs (None: not redistributable).

    ``blob_sha1`` (optional): git blob SHA-1 per split of the published file, checked after a
    download. ``scheme``: tag scheme of the files ("plain" for POS, "iob1" for CoNLL-2003 NER).
    ``reader``: builds the reader of the files (format and tag column).
    ``layers``: the named tag layers of the files, which a config can pick as tasks: layer name
    -> (its column for the reader's ``tag_columns``, its tag scheme in the files).
    """

    name: str
    folder: str
    files: dict[str, str]
    urls: dict[str, str] | None
    license: str
    instructions: str
    blob_sha1: dict[str, str] | None = None
    scheme: str = "plain"
    reader: Callable[..., Reader] = ConllReader
    layers: dict[str, tuple[str | int, str]] = field(default_factory=dict)

    def make_reader(self, tag_columns: Mapping[str, str | int] | None = None) -> Reader:
        """A reader for the corpus files, configured for this corpus; ``tag_columns`` (task name
        -> column, e.g. from :attr:`layers`) makes it read one tag column per task."""
        if tag_columns is None:
            return self.reader()
        return self.reader(tag_columns=tag_columns)


_UD_EWT_BASE = "https://raw.githubusercontent.com/UniversalDependencies/UD_English-EWT/r2.16/"
_UD_EWT_FILES = {
    "train": "en_ewt-ud-train.conllu",
    "validation": "en_ewt-ud-dev.conllu",
    "test": "en_ewt-ud-test.conllu",
}

CORPORA: dict[str, CorpusSpec] = {
    "ud_ewt": CorpusSpec(
        name="ud_ewt",
        folder="ud_en_ewt",
        files=dict(_UD_EWT_FILES),
        urls={split: _UD_EWT_BASE + file for split, file in _UD_EWT_FILES.items()},
        license="CC BY-SA 4.0",
        instructions=(
            "Universal Dependencies English-EWT, release 2.16: download the three .conllu files "
            "from https://github.com/UniversalDependencies/UD_English-EWT/tree/r2.16 "
            "(or run with download enabled)."
        ),
        # Git blob ids of the r2.16 files (see the shared data SOURCES.md).
        blob_sha1={
            "train": "34731d23bafeeff233fdcee18ffc0254b1aa0e28",
            "validation": "a994b6990643429070ecc6e236d26ad6a04bfefb",
            "test": "c59667960ae967636606f47bc35f132a5557ad39",
        },
        scheme="plain",
        reader=partial(ConlluReader, tag_column="upos"),
        layers={"upos": ("upos", "plain"), "xpos": ("xpos", "plain"), "feats": ("feats", "plain")},
    ),
    "conll2003": CorpusSpec(
        name="conll2003",
        folder="conll2003",
        files={"train": "train.txt", "validation": "dev.txt", "test": "test.txt"},
        urls=None,
        license=(
            "CoNLL-2003 annotations; the Reuters RCV1 text is research-only (RCV1 agreement), "
            "not redistributable"
        ),
        instructions=(
            "CoNLL-2003 English NER cannot be downloaded automatically (Reuters RCV1 text is not "
            "redistributable). Get the original files eng.train, eng.testa and eng.testb "
            "(https://www.clips.uantwerpen.be/conll2003/ner/ with the RCV1 corpus from NIST) "
            "and save them, renamed, as train.txt (eng.train), dev.txt (eng.testa) and "
            "test.txt (eng.testb). Keep the original IOB1 tags and the 4 space-separated "
            "columns."
        ),
        scheme="iob1",
        reader=partial(ConllReader, token_column=0, tag_column=-1),
        # Columns: token, POS, chunk, NER; chunks are IOB1 like the entities (B- only where a
        # chunk follows one of the same type).
        layers={"pos": (1, "plain"), "chunk": (2, "iob1"), "ner": (3, "iob1")},
    ),
}
