"""Linear-chain CRF head with scheme constraints: ``model/head=crf``.

Written by hand because no well-kept CRF library fits: ``pytorch-crf`` is unmaintained and has no
transition constraints, and AllenNLP (which had them) is archived. The head scores each token
like the linear head (emissions ``(N, L, C)``) and adds learned transition, start and end scores.
Transitions that the train scheme forbids (IOB2 ``O -> I-X`` and ``B-X -> I-Y``, the BIOES rules,
IOB1's ``B-X`` outside an X chunk; ``seqtagger.data.schemes.transition_rules``) score minus
infinity in training and in decoding, so decoded tags are always well formed.

Loss: the negative log-likelihood of the gold tag sequence, summed over sentences and divided by
the number of real tokens in the batch, so its scale matches the linear head's mean token
cross-entropy and learning rates carry over. The forward algorithm and Viterbi run in log space
and in fp32 (also under bf16 autocast), batched over sentences, looping over positions on the
model's device; padding positions keep the running scores unchanged. ``marginals`` gives each
token's exact tag probabilities by forward-backward under the same constraints (confidences).

``export_safe`` selects the path an exported graph runs (``seqtagger.export``): Viterbi and
forward-backward as scans over positions (:func:`viterbi_scan`, :func:`marginals_scan`), which
``torch.export`` keeps as loops whose length follows the input's (ONNX ``Scan``), where the
Python loops would be unrolled to the example's length; the same results
(``tests/test_export_paths.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch._higher_order_ops.scan import scan

from seqtagger.constants import IGNORE_INDEX
from seqtagger.data.schemes import transition_rules
from seqtagger.errors import ConfigError
from seqtagger.models.heads import LinearHead

__all__ = ["CRFHead", "marginals_scan", "viterbi_scan"]

FORBIDDEN = float("-inf")


class CRFHead(LinearHead):
    """Emissions from dropout + linear, transitions ``(C, C)``, start and end scores ``(C,)``.

    ``constrained=False`` drops the scheme constraints (all transitions learned freely).
    ``export_safe``: decode and marginals by scans (module docstring), in fp32.
    """

    export_safe: bool = False

    def __init__(
        self,
        input_size: int,
        num_labels: int,
        dropout: float = 0.0,
        constrained: bool = True,
        **options: Any,
    ) -> None:
        if options.get("label_smoothing", 0.0):
            raise ConfigError(
                f"model.label_smoothing={options['label_smoothing']}: the CRF head's loss is the "
                "sequence likelihood and has no label smoothing; set it to 0"
            )
        super().__init__(input_size, num_labels, dropout, **options)
        self.transitions = nn.Parameter(torch.zeros(num_labels, num_labels))
        self.start = nn.Parameter(torch.zeros(num_labels))
        self.end = nn.Parameter(torch.zeros(num_labels))
        scheme = self.scheme if constrained else "plain"
        allowed, start, end = transition_rules(self.labels, scheme)
        self.register_buffer("allowed", torch.tensor(allowed), persistent=False)
        self.register_buffer("allowed_start", torch.tensor(start), persistent=False)
        self.register_buffer("allowed_end", torch.tensor(end), persistent=False)

    def scores(self, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor, Tensor]:
        """Transition ``(C, C)``, start and end ``(C,)`` scores as ``dtype``, forbidden = -inf."""
        transitions = self.transitions.to(dtype).masked_fill(~self.allowed, FORBIDDEN)
        start = self.start.to(dtype).masked_fill(~self.allowed_start, FORBIDDEN)
        end = self.end.to(dtype).masked_fill(~self.allowed_end, FORBIDDEN)
        return transitions, start, end

    def loss(self, logits: Tensor, tag_ids: Tensor, mask: Tensor) -> Tensor:
        """Sentence NLL summed over the batch, divided by its number of real tokens."""
        with torch.autocast(logits.device.type, enabled=False):
            emissions = _at_least_fp32(logits)
            nll = self.log_partition(emissions, mask) - self.gold_score(emissions, tag_ids, mask)
        return nll.sum() / mask.sum().clamp(min=1)

    def log_partition(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """``log Z`` per sentence ``(N,)`` by the forward algorithm; ``emissions (N, L, C)``."""
        transitions, start, end = self.scores(emissions.dtype)
        alphas = _forward_scores(emissions, mask, transitions, start)
        return torch.logsumexp(alphas[-1] + end, dim=1)

    def marginals(self, logits: Tensor, mask: Tensor, temperature: float = 1.0) -> Tensor:
        """Exact ``P(tag_t = c | sentence)`` ``(N, L, C)`` by forward-backward in log space,
        under the same constraints as Viterbi (a forbidden tag's marginal is 0); padding rows
        are 0. Emissions, transitions, start and end scores are divided by ``temperature``
        here only. The argmax of each token's marginals can form an ill-formed sequence, which
        is why ``decode`` stays Viterbi and callers report the marginal of Viterbi's tags."""
        if self.export_safe:
            emissions = _at_least_fp32(logits) / temperature
            parts = (part / temperature for part in self.scores(emissions.dtype))
            return marginals_scan(emissions, mask, *parts)
        with torch.autocast(logits.device.type, enabled=False):
            emissions = _at_least_fp32(logits) / temperature
            transitions, start, end = (part / temperature for part in self.scores(emissions.dtype))
            alphas = torch.stack(_forward_scores(emissions, mask, transitions, start), dim=1)
            betas = _backward_scores(emissions, mask, transitions, end)  # (N, L, C)
            log_z = torch.logsumexp(alphas[:, -1] + end, dim=1)  # (N,)
            log_marginals = alphas + betas - log_z[:, None, None]
            return log_marginals.exp().masked_fill(~mask.unsqueeze(-1), 0.0)

    def gold_score(self, emissions: Tensor, tag_ids: Tensor, mask: Tensor) -> Tensor:
        """Score of the gold path per sentence ``(N,)``; ``tag_ids (N, L)``, -100 at padding."""
        transitions, start, end = self.scores(emissions.dtype)
        tags = tag_ids.masked_fill(~mask, 0)
        emitted = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # (N, L)
        steps = transitions[tags[:, :-1], tags[:, 1:]]  # (N, L - 1); -inf if forbidden
        last = tags.gather(1, (mask.sum(1, keepdim=True) - 1).clamp(min=0)).squeeze(1)
        inner = emitted.where(mask, 0.0).sum(1) + steps.where(mask[:, 1:], 0.0).sum(1)
        return start[tags[:, 0]] + inner + end[last]

    def forbidden_steps(self, tag_ids: Tensor, mask: Tensor) -> list[tuple[int, str]]:
        """``(row, first forbidden step)`` of each sentence whose gold path the constraints
        forbid (its loss is infinite): ``'O' -> 'I-PER' at token 3``, ``'B-PER' last``.
        ``tag_ids``, ``mask (N, L)``; read on the host, so for explaining a loss, not per step."""
        rules = [rule.tolist() for rule in (self.allowed, self.allowed_start, self.allowed_end)]
        rows = zip(tag_ids.tolist(), mask.sum(dim=1).tolist(), strict=True)
        found = [
            (row, self._first_forbidden(tags[:n], *rules)) for row, (tags, n) in enumerate(rows)
        ]
        return [(row, step) for row, step in found if step]

    def _first_forbidden(
        self, tags: list[int], allowed: list[list[bool]], start: list[bool], end: list[bool]
    ) -> str | None:
        names = [repr(label) for label in self.labels]
        if tags and not start[tags[0]]:
            return f"{names[tags[0]]} first"
        for i in range(1, len(tags)):
            if not allowed[tags[i - 1]][tags[i]]:
                return f"{names[tags[i - 1]]} -> {names[tags[i]]} at token {i}"
        if tags and not end[tags[-1]]:
            return f"{names[tags[-1]]} last"
        return None

    @torch.no_grad()
    def decode(self, logits: Tensor, mask: Tensor) -> Tensor:
        """Best well-formed tag ids per sentence by batched Viterbi; -100 at padding."""
        if self.export_safe:
            emissions = _at_least_fp32(logits)
            return viterbi_scan(emissions, mask, *self.scores(emissions.dtype))
        with torch.autocast(logits.device.type, enabled=False):
            return self._viterbi(_at_least_fp32(logits), mask)

    def _viterbi(self, emissions: Tensor, mask: Tensor) -> Tensor:
        transitions, start, end = self.scores(emissions.dtype)
        length = emissions.shape[1]
        score = start + emissions[:, 0]  # (N, C)
        backpointers = []
        for t in range(1, length):
            best, previous = (score.unsqueeze(2) + transitions).max(dim=1)  # (N, C) each
            keep = mask[:, t : t + 1]
            score = torch.where(keep, best + emissions[:, t], score)
            # at padding, "come from yourself": following pointers through it changes nothing
            stay = torch.arange(score.shape[1], device=score.device).expand_as(previous)
            backpointers.append(torch.where(keep, previous, stay))
        tag = (score + end).argmax(dim=1)  # (N,)
        path = [tag]
        for pointers in reversed(backpointers):
            tag = pointers.gather(1, tag.unsqueeze(1)).squeeze(1)
            path.append(tag)
        tag_ids = torch.stack(path[::-1], dim=1)  # (N, L)
        return tag_ids.masked_fill(~mask, IGNORE_INDEX) if length else tag_ids


def _forward_scores(
    emissions: Tensor, mask: Tensor, transitions: Tensor, start: Tensor
) -> list[Tensor]:
    """``alpha_t (N, C)`` for each position: log-sum of the scores of all paths ending in each
    tag at ``t``; at padding the last real position's alpha is carried on."""
    alphas = [start + emissions[:, 0]]
    for t in range(1, emissions.shape[1]):
        step = torch.logsumexp(alphas[-1].unsqueeze(2) + transitions, dim=1) + emissions[:, t]
        alphas.append(torch.where(mask[:, t : t + 1], step, alphas[-1]))
    return alphas


def _backward_scores(emissions: Tensor, mask: Tensor, transitions: Tensor, end: Tensor) -> Tensor:
    """``beta (N, L, C)``: log-sum of the scores of all path continuations after each tag at
    each position, end score included; ``end`` at a sentence's last real token and after it."""
    betas = [end.expand_as(emissions[:, 0])]
    for t in range(emissions.shape[1] - 2, -1, -1):
        after = emissions[:, t + 1] + betas[-1]  # (N, C) of the tag at t + 1
        step = torch.logsumexp(transitions + after.unsqueeze(1), dim=2)
        betas.append(torch.where(mask[:, t + 1 : t + 2], step, betas[0]))
    return torch.stack(betas[::-1], dim=1)


def _at_least_fp32(logits: Tensor) -> Tensor:
    """fp16/bf16 scores as fp32 (sums of exponentials need it); fp32 and fp64 as they are."""
    return logits.to(torch.promote_types(logits.dtype, torch.float32))


# ----- the export-safe forms: scans over positions -----
def viterbi_scan(
    emissions: Tensor, mask: Tensor, transitions: Tensor, start: Tensor, end: Tensor
) -> Tensor:
    """``CRFHead._viterbi`` as two scans: max-product forwards, then backtracking. ``emissions
    (N, L, C)``, ``mask (N, L)`` -> tag ids ``(N, L)``, -100 at padding. One padding position
    is appended, so a one-token batch still has a step to scan (onnxruntime refuses a ``Scan``
    of none); padding changes no score and no pointer."""
    emissions, mask = _one_more_position(emissions, mask)
    labels = torch.arange(emissions.shape[2], device=emissions.device)

    def step(score: Tensor, inputs: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        emitted, keep = inputs[0], inputs[1].unsqueeze(1)  # (N, C), (N, 1)
        best, previous = (score.unsqueeze(2) + transitions).max(dim=1)  # (N, C) each
        stay = labels.expand_as(previous)
        return torch.where(keep, best + emitted, score), torch.where(keep, previous, stay)

    later = (emissions[:, 1:].transpose(0, 1), mask[:, 1:].transpose(0, 1))  # (L, N, ...)
    score, pointers = _scan(step, start + emissions[:, 0], later)  # pointers (L, N, C)
    last = (score + end).argmax(dim=1)  # (N,)

    def back(tag: Tensor, step_pointers: Tensor) -> tuple[Tensor, Tensor]:
        previous = step_pointers.gather(1, tag.unsqueeze(1)).squeeze(1)
        return previous, previous.clone()

    _, earlier = _scan(back, last, pointers, reverse=True)  # (L, N): tags at 0 .. L - 1
    tag_ids = torch.cat([earlier.transpose(0, 1), last.unsqueeze(1)], dim=1)[:, :-1]
    return tag_ids.masked_fill(~mask[:, :-1], IGNORE_INDEX)


def marginals_scan(
    emissions: Tensor, mask: Tensor, transitions: Tensor, start: Tensor, end: Tensor
) -> Tensor:
    """``CRFHead.marginals`` (scores already divided by the temperature) by forward and
    backward scans -> ``(N, L, C)``, 0 at padding; one padding position appended as in
    :func:`viterbi_scan`."""
    length = emissions.shape[1]
    emissions, padded_mask = _one_more_position(emissions, mask)
    later = (emissions[:, 1:].transpose(0, 1), padded_mask[:, 1:].transpose(0, 1))

    def forward(alpha: Tensor, inputs: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        emitted, keep = inputs[0], inputs[1].unsqueeze(1)
        step = torch.logsumexp(alpha.unsqueeze(2) + transitions, dim=1) + emitted
        alpha = torch.where(keep, step, alpha)
        return alpha, alpha.clone()

    def backward(beta: Tensor, inputs: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        emitted, keep = inputs[0], inputs[1].unsqueeze(1)  # of the position after
        step = torch.logsumexp(transitions + (emitted + beta).unsqueeze(1), dim=2)
        beta = torch.where(keep, step, end.expand_as(step))
        return beta, beta.clone()

    first = start + emissions[:, 0]  # (N, C)
    last_alpha, alphas = _scan(forward, first, later)  # alphas (L, N, C): positions 1 .. L
    alphas = torch.cat([first.unsqueeze(1), alphas.transpose(0, 1)], dim=1)  # (N, L + 1, C)
    _, betas = _scan(backward, end.expand_as(first), later, reverse=True)  # positions 0 .. L-1
    log_z = torch.logsumexp(last_alpha + end, dim=1)  # (N,)
    log_marginals = alphas[:, :length] + betas.transpose(0, 1)[:, :length] - log_z[:, None, None]
    return log_marginals.exp().masked_fill(~mask.unsqueeze(-1), 0.0)


def _one_more_position(emissions: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """``emissions (N, L, C)`` and ``mask (N, L)`` with a padding position appended."""
    return F.pad(emissions, (0, 0, 0, 1)), F.pad(mask, (0, 1), value=False)


Step = Callable[[Tensor, Any], tuple[Tensor, Tensor]]


def _scan(step: Step, init: Tensor, xs: Any, reverse: bool = False) -> tuple[Tensor, Tensor]:
    """``(final carry, stacked outputs)`` of ``step(carry, x)`` over the first dim of ``xs`` (a
    tensor or a tuple of them), outputs in the order of ``xs``. Under ``torch.export`` the scan
    operator (an ONNX ``Scan``); in eager mode the same steps in a loop (eager ``scan`` compiles
    its step function)."""
    if torch.compiler.is_exporting():
        return scan(step, init.contiguous(), xs, reverse=reverse)
    parts = xs if isinstance(xs, tuple) else (xs,)
    order = range(parts[0].shape[0])
    carry, outputs = init, []
    for t in reversed(order) if reverse else order:
        inputs = tuple(part[t] for part in parts)
        carry, output = step(carry, inputs if isinstance(xs, tuple) else inputs[0])
        outputs.append(output)
    if reverse:
        outputs.reverse()
    return carry, torch.stack(outputs)  # every caller has a step: one position is appended
