"""``PredictorBase``: what every prediction backend shares, without torch.

Inputs are read a window at a time, sorted by length inside the window (little padding), tagged
in batches by the backend (:meth:`PredictorBase.predict_batch_layers`, ``predict_batch_scored``)
and put back in input order (``OrderedWriter``), so a file of any size streams through with flat
memory. Sentences are never truncated: every token gets a tag. Span tasks' tags come out in IOB2
(what most tools read) unless ``scheme`` says otherwise; ``labels`` lists the tags the primary
task outputs, ``train_labels`` its model's labels (index -> tag, in the train scheme). A model
trained with document context (``data.context``) reads each sentence with its neighbours in the
input (``documents`` says where documents start; default: the whole input is one document). A
model with a document memory (``model/memory=document``) is run on batches of whole documents,
in input order, cut as training cut them (``data/documents.py``: ids >= 1 are marked documents,
kept whole up to 256 sentences; ids <= 0, as readers give sentences before any mark, are text
without marks, read in pieces of 16 sentences).

A model of several tasks (``data/tasks.py``) tags every layer in one pass: ``predict_layers``
gives ``{task: tags}`` per sentence; ``predict`` and the text API give the primary task's tags
(the headline task, or the first of ``tasks``), so single-task code reads any model.

The backends: ``Predictor`` (PyTorch, ``inference/predictor.py``) and ``OnnxPredictor``
(onnxruntime, ``export/runtime.py``), which thus run without torch where their featurizer does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import tee
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from seqtagger.data.context import stream_contexts
from seqtagger.data.info import stored_temperatures
from seqtagger.data.schemes import convert_tags, get_spans
from seqtagger.data.tasks import Task
from seqtagger.errors import ConfigError
from seqtagger.inference.records import (
    EXPECTED_SHAPE,
    _describe,
    check_sentence,
    output_labels,
    output_scheme,
    select_tasks,
    span_record,
)
from seqtagger.inference.scores import span_score
from seqtagger.inference.streaming import OrderedWriter, document_batches, windowed_batches

if TYPE_CHECKING:
    from seqtagger.data.featurizers import Featurizer
    from seqtagger.inference.text import Document

__all__ = ["PredictorBase", "TaggingModel"]

TAGS_MEMO_SIZE = 20_000
"""Converted tag sequences a predictor remembers (cleared when full: memory stays bounded)."""
Tagged = TypeVar("Tagged")  # what a batch gives per sentence: ids, or ids with scores


class TaggingModel(Protocol):
    """What a predictor reads of the model it wraps (``TrainedTagger``, or an exported graph's
    stand-in): its data record, tasks, label maps and featurizer."""

    data_info: dict[str, Any]
    tasks: list[Task]
    task_labels: dict[str, list[str]]
    featurizer: Featurizer


class PredictorBase:
    """Tags sentences (lists of tokens) in windows, in input order; a backend gives the tags of
    one batch.

    Args:
        model: what the backend runs, with the record of its data (:class:`TaggingModel`).
        batch_size: sentences per batch.
        window: sentences read ahead and length-sorted at a time (bounds memory).
        scheme: scheme of the output tags of span tasks (``iob2``, ``iob1``, ``bioes``);
            default: IOB2.
        tasks: the tasks to tag (``--tasks``); default: every task of the model.
        temperature: divides the model's scores for the confidences of ``predict_scored`` only
            (the tags never depend on it); default: the primary task's temperature stored in
            the checkpoint (fitted on the dev set), else 1.
        reads_documents: whether the model reads whole documents (a document memory).
    """

    def __init__(
        self,
        model: TaggingModel,
        *,
        batch_size: int = 64,
        window: int = 4096,
        scheme: str | None = None,
        temperature: float | None = None,
        tasks: Sequence[str] | None = None,
        reads_documents: bool = False,
    ) -> None:
        if model.data_info is None:
            raise ValueError("a predictor needs a trained model (one built with data_info)")
        self.batch_size = batch_size
        self.window = window
        self.tasks = select_tasks(model.tasks, tasks)
        self.task = next((t for t in self.tasks if t.headline), self.tasks[0])  # the primary
        self.train_scheme: str = self.task.train_scheme
        self.schemes = {t.name: output_scheme(t, scheme, t is self.task) for t in self.tasks}
        self.scheme = self.schemes[self.task.name]
        self.task_labels = {task.name: model.task_labels[task.name] for task in self.tasks}
        self.train_labels: list[str] = self.task_labels[self.task.name]  # index -> train tag
        self.featurizer = model.featurizer
        self.context = int(model.data_info.get("context", 0))
        self.reads_documents = reads_documents
        if temperature is None:  # the one fitted on the dev set at the end of training, or 1
            temperature = stored_temperatures(model.data_info).get(self.task.name, 1.0)
        if not temperature > 0:
            raise ConfigError(f"Predictor: temperature={temperature}; it must be above 0")
        self.temperature = float(temperature)
        # set by a reader of a pipe or terminal (ReadAhead.waiting): windows then end when no
        # sentence waits, so each is tagged as it arrives (models without a document memory)
        self.input_waiting: Callable[[], bool] | None = None
        self._tags_memo: dict[tuple[str, tuple[int, ...]], list[str]] = {}

    # ----- one batch: the backend's -----
    def predict_batch_layers(
        self,
        sentences: Sequence[Sequence[str]],
        contexts: Sequence[tuple[Sequence[str], Sequence[str]]] | None = None,
        documents: Sequence[int] | None = None,
    ) -> list[dict[str, list[int]]]:
        """Each task's predicted label ids (train scheme) for one batch, in the given order;
        ``contexts``: each sentence's ``(left, right)`` words (document context);
        ``documents``: each sentence's document (a document memory)."""
        raise NotImplementedError

    def predict_batch_scored(
        self,
        sentences: Sequence[Sequence[str]],
        contexts: Sequence[tuple[Sequence[str], Sequence[str]]] | None = None,
        documents: Sequence[int] | None = None,
    ) -> list[tuple[list[int], list[float]]]:
        """The primary task's ids of one batch with each one's probability at ``temperature``."""
        raise NotImplementedError

    @property
    def labels(self) -> list[str]:
        """Every tag the primary task outputs, in its output scheme (``scheme``)."""
        return self.output_labels(self.task.name)

    def output_labels(self, task: str) -> list[str]:
        """Every tag ``task`` outputs, in its output scheme: its model's labels converted
        (``O`` first, then each type's prefixes), or the labels of a task without spans."""
        return output_labels(self.task_labels[task], self.schemes[task])

    def predict_batch_ids(
        self,
        sentences: Sequence[Sequence[str]],
        contexts: Sequence[tuple[Sequence[str], Sequence[str]]] | None = None,
        documents: Sequence[int] | None = None,
    ) -> list[list[int]]:
        """The primary task's ids of :meth:`predict_batch_layers`."""
        layers = self.predict_batch_layers(sentences, contexts, documents)
        return [ids[self.task.name] for ids in layers]

    def _to_tags(self, tag_ids: list[int], task: str | None = None) -> list[str]:
        """The output tags of one sentence's ids for ``task`` (default: the primary). A scheme
        conversion (BIOES -> IOB1 for CoNLL-2003) reads the chunks in Python, so its results
        are remembered: many sentences share a tag sequence (all ``O``, one name)."""
        task = task or self.task.name
        labels, scheme = self.task_labels[task], self.schemes[task]
        train_scheme = next(t.train_scheme for t in self.tasks if t.name == task)
        if scheme == train_scheme:
            return [labels[i] for i in tag_ids]
        key = (task, tuple(tag_ids))
        tags = self._tags_memo.get(key)
        if tags is None:
            if len(self._tags_memo) >= TAGS_MEMO_SIZE:
                self._tags_memo.clear()
            tags = convert_tags([labels[i] for i in tag_ids], train_scheme, scheme)
            self._tags_memo[key] = tags
        return list(tags)

    # ----- public API -----
    def predict_stream(
        self, sentences: Iterable[Sequence[str]], documents: Iterable[int] | None = None
    ) -> Iterator[list[str]]:
        """Tags for each sentence, yielded in input order; reads the input lazily.
        ``documents``: each sentence's document (read by a model with document context or a
        document memory; ``None``: the whole input is one document, without marks)."""
        for tag_ids in self._in_order(sentences, documents, self.predict_batch_ids):
            yield self._to_tags(tag_ids)

    def predict_layers_stream(
        self, sentences: Iterable[Sequence[str]], documents: Iterable[int] | None = None
    ) -> Iterator[dict[str, list[str]]]:
        """``{task: tags}`` for each sentence, every selected task, yielded in input order."""
        for layers in self._in_order(sentences, documents, self.predict_batch_layers):
            yield {name: self._to_tags(ids, name) for name, ids in layers.items()}

    def predict_layers(
        self, sentences: Iterable[Sequence[str]], documents: Iterable[int] | None = None
    ) -> list[dict[str, list[str]]]:
        """``{task: tags}`` for each sentence (a list of tokens), in input order."""
        return list(self.predict_layers_stream(sentences, documents))

    def predict_scored_stream(
        self, sentences: Iterable[Sequence[str]], documents: Iterable[int] | None = None
    ) -> Iterator[tuple[list[str], list[float]]]:
        """``predict_stream``'s tags with each tag's score (its probability under the model:
        ``seqtagger.inference.scores``), yielded in input order."""
        for tag_ids, scores in self._in_order(sentences, documents, self.predict_batch_scored):
            yield self._to_tags(tag_ids), scores

    def _in_order(
        self,
        sentences: Iterable[Sequence[str]],
        documents: Iterable[int] | None,
        tag_batch: Callable[..., list[Tagged]],
    ) -> Iterator[Tagged]:
        """What ``tag_batch(tokens, contexts, documents)`` returns for each sentence, in input
        order, the input read lazily in batches (with context and documents as the model reads
        them)."""
        if isinstance(sentences, (str, bytes)):
            raise ConfigError(f"Predictor: got one {_describe(sentences)}; {EXPECTED_SHAPE}")
        sentences = (check_sentence(s, i) for i, s in enumerate(sentences))
        for_context = for_memory = documents
        if documents is not None and self.context and self.reads_documents:
            for_context, for_memory = tee(documents)  # both read them, in step
        items = (
            stream_contexts(sentences, for_context, self.context)
            if self.context
            else ((sentence, None, None) for sentence in sentences)
        )
        ready: deque[Tagged] = deque()
        writer: OrderedWriter[Tagged] = OrderedWriter(lambda _, tagged: ready.append(tagged))
        total = 0
        for batch in self._batches(items, for_memory):
            positions = [position for position, _, _ in batch]
            tokens = [list(item[0]) for _, item, _ in batch]
            contexts = [(item[1], item[2]) for _, item, _ in batch] if self.context else None
            docs = [document for _, _, document in batch] if self.reads_documents else None
            tagged_of = tag_batch(tokens, contexts, docs)
            for position, tagged in zip(positions, tagged_of, strict=True):
                writer.add(position, tagged)
            total += len(batch)
            while ready:
                yield ready.popleft()
        writer.close(total=total)
        while ready:
            yield ready.popleft()

    def _batches(
        self, items: Iterable[tuple], documents: Iterable[int] | None
    ) -> Iterator[list[tuple[int, tuple, int | None]]]:
        """``(position, (sentence, left, right), document)`` batches: whole documents in input
        order for a model with a document memory, else length-sorted within windows."""
        if self.reads_documents:
            yield from document_batches(
                items, documents, batch_size=self.batch_size, window=self.window
            )
            return
        sorted_batches = windowed_batches(
            items,
            length=_window_length,
            batch_size=self.batch_size,
            window=self.window,
            waiting=self.input_waiting,
        )
        for batch in sorted_batches:
            yield [(position, item, None) for position, item in batch]

    def predict(
        self, sentences: Iterable[Sequence[str]], documents: Iterable[int] | None = None
    ) -> list[list[str]]:
        """Tags for each sentence (a list of tokens), in input order."""
        return list(self.predict_stream(sentences, documents))

    def predict_scored(
        self, sentences: Iterable[Sequence[str]], documents: Iterable[int] | None = None
    ) -> list[tuple[list[str], list[float]]]:
        """``(tags, scores)`` for each sentence, in input order: the tags ``predict`` returns
        and each one's probability under the model (``seqtagger.inference.scores``)."""
        return list(self.predict_scored_stream(sentences, documents))

    def __call__(
        self, text: str | Sequence[str], *, sentence_per_line: bool = False, scores: bool = False
    ) -> list[Document]:
        """Tag raw text (a string, or a list of strings: each a document): documents, sentences,
        tokens and spans with character offsets into the input (``inference/text.py``); a blank
        line starts a new document; ``sentence_per_line``: each line is one sentence;
        ``scores``: each span gets its ``score``."""
        from seqtagger.inference.text import tag_text

        return tag_text(self, text, sentence_per_line=sentence_per_line, scores=scores)

    def spans(
        self, tokens: Sequence[str], tags: Sequence[str], scores: Sequence[float] | None = None
    ) -> list[dict[str, Any]]:
        """Entity spans of a tagged sentence (the metric's span code): type, start, end, text,
        and with the tokens' ``scores`` the span's ``score`` (:func:`span_score`)."""
        if self.scheme == "plain":
            return []
        records = [span_record(span, tokens) for span in get_spans(tags, self.scheme)]
        if scores is not None:
            for record in records:
                record["score"] = span_score(scores, record["start"], record["end"])
        return records


def _window_length(item: tuple[Sequence[str], Sequence[str] | None, Sequence[str] | None]) -> int:
    """Words the encoder reads for one ``(sentence, left, right)`` item (sorting key)."""
    sentence, left, right = item
    return len(sentence) + len(left or ()) + len(right or ())
