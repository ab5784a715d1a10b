"""Token-level cross-entropy under the ``(N, C, L)`` contract of ``F.cross_entropy``.

The contract
------------
``F.cross_entropy`` accepts K-dimensional input: logits ``(N, C, L)`` (classes on dimension 1) and
class-index targets ``(N, L)`` whose values are in ``[0, C)`` or ``ignore_index`` (``-100``, the
padding value written by ``collate_batch``). Heads return ``(N, L, C)``; ``LinearHead.loss``
permutes it with ``logits.permute(0, 2, 1)`` and calls :func:`sequence_cross_entropy`.

Why a hand-written wrapper when ``F.cross_entropy`` exists
----------------------------------------------------------
1. *Errors that explain themselves.* Passing ``(N, L, C)`` where ``(N, C, L)`` is expected makes
   ``F.cross_entropy`` fail with an opaque size message (or, on CUDA, with a device-side assert for
   out-of-range targets that poisons the CUDA context). We validate first and say what was received,
   what is expected and how to fix it.
2. *Probabilities instead of logits.* ``F.cross_entropy`` applies ``log_softmax`` itself; feeding it
   softmax output trains silently but badly. We detect it (cheaply, see ``probability_check``).
3. *Speed.* The value is computed on the flattened ``(N*L, C)`` layout, which is faster than the
   permuted ``(N, C, L)`` path on GPUs at every label count (the figures are in docs/performance.md,
   measured by ``python -m benchmarks loss``). When ``logits_ncl`` is a permuted view of contiguous
   ``(N, L, C)`` memory, ``logits_ncl.transpose(1, 2)`` is contiguous again and the flattening is
   free (no copy).

Reduction: the mean over real (non-ignored) tokens of the batch, exactly ``F.cross_entropy``'s
``reduction="mean"`` with ``ignore_index``: every real token weighs the same, whatever the length of
its sentence. A batch with no real token yields NaN (0 / 0), exactly like ``F.cross_entropy``.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor

from seqtagger.constants import IGNORE_INDEX

__all__ = [
    "IGNORE_INDEX",
    "LossContractError",
    "check_logits_layout",
    "check_targets",
    "flatten_logits",
    "sequence_cross_entropy",
]


PROBABILITY_CHECK_MODES = ("error", "warn", "off")
_MAX_REPORTED = 5  # offending (row, col) positions listed in an error message
_PROBABILITY_ATOL = 1e-3  # sum-to-one tolerance; loose enough for bf16 softmax output

# "warn" mode checks for probabilities once per process: one host sync, on the first call only.
_probability_check_done = False


class LossContractError(ValueError):
    """Logits or targets that break the ``(N, C, L)`` / ``(N, L)`` contract of the loss."""


def _shape(t: Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def check_logits_layout(logits_ncl: Tensor, num_classes: int | None) -> None:
    """Check that ``logits_ncl`` is floating point, 3-D and laid out ``(N, C, L)``.

    Args:
        logits_ncl: unnormalised scores ``(N, C, L)``.
        num_classes: the known number of classes C (size of the label vocab). With it, an
            ``(N, L, C)`` tensor is recognised (``shape[2] == C != shape[1]``) and the error shows
            both layouts and the fix, ``logits.permute(0, 2, 1)``. With ``None`` only the rank and
            dtype are checked.

    When L happens to equal C (e.g. a 9-token sentence with 9 tags), the two layouts have the same
    shape and no shape check can tell them apart; such a tensor is accepted as ``(N, C, L)``. The
    training step of this package is immune because it permutes its own head output, whose layout
    is known to be ``(N, L, C)`` (``LinearHead.loss``); callers who build logits by hand must get
    the layout right.

    Raises:
        LossContractError: on a non-floating dtype, a rank other than 3, or a shape that does not
            carry ``num_classes`` on dimension 1.
    """
    if not logits_ncl.is_floating_point():
        raise LossContractError(
            f"logits must be a floating-point tensor of unnormalised scores (N, C, L); "
            f"received dtype {logits_ncl.dtype} with shape {_shape(logits_ncl)}."
        )
    if logits_ncl.dim() != 3:
        raise LossContractError(
            f"logits must be 3-D (N, C, L) = (batch, classes, sequence length); received "
            f"{logits_ncl.dim()}-D shape {_shape(logits_ncl)}. Flattened (N*L, C) logits belong "
            f"to F.cross_entropy directly, not to sequence_cross_entropy."
        )
    if num_classes is None:
        return
    n, dim1, dim2 = logits_ncl.shape
    if dim1 == num_classes:
        return  # includes the undecidable L == C case, see docstring
    if dim2 == num_classes:
        raise LossContractError(
            f"logits look transposed: received shape {_shape(logits_ncl)}, which is "
            f"(N, L, C) = ({n}, {dim1}, {dim2}) for num_classes={num_classes}, but the loss "
            f"expects (N, C, L) = ({n}, {num_classes}, {dim1}) with classes on dimension 1, as "
            f"F.cross_entropy does. Fix: pass logits.permute(0, 2, 1) (a free view)."
        )
    raise LossContractError(
        f"logits shape {_shape(logits_ncl)} does not carry num_classes={num_classes} on "
        f"dimension 1: expected (N, C, L) = ({n}, {num_classes}, L). Check that the head's "
        f"num_labels equals the size of the label vocab."
    )


def _check_target_dtype_and_shape(
    targets: Tensor, expected: tuple[int, int] | None, logits_shape: tuple[int, ...] | None = None
) -> None:
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise LossContractError(
            f"targets must be an integer tensor of class indices (N, L) (int64, as produced by "
            f"collate_batch's tag_ids); received dtype {targets.dtype} with shape "
            f"{_shape(targets)}. Soft (probability) targets are not supported by this loss."
        )
    if targets.dim() != 2:
        raise LossContractError(
            f"targets must be 2-D (N, L) = (batch, sequence length); received "
            f"{targets.dim()}-D shape {_shape(targets)}."
        )
    if expected is None or _shape(targets) == tuple(expected):
        return
    message = (
        f"targets shape {_shape(targets)} does not match the logits: expected (N, L) = "
        f"{tuple(expected)}"
    )
    if logits_shape is not None:
        message += f", taken from logits (N, C, L) = {logits_shape}"
        if logits_shape[1] == targets.shape[-1] and logits_shape[0] == targets.shape[0]:
            message += (
                ". The logits' dimension 1 matches the targets' L: the logits may be (N, L, C); "
                "fix with logits.permute(0, 2, 1)"
            )
    raise LossContractError(message + ".")


def check_targets(
    targets: Tensor,
    num_classes: int,
    *,
    shape: tuple[int, int] | None = None,
    ignore_index: int = IGNORE_INDEX,
) -> None:
    """Validate class-index targets ``(N, L)``: integer dtype, shape, values in ``[0, C)``.

    This is the host-side value check: call it on CPU tensors, e.g. in the LightningModule's
    ``on_before_batch_transfer``, where reading the values costs no device synchronisation. On an
    accelerator an out-of-range target would otherwise surface as a device-side assert inside
    ``F.cross_entropy`` (or as silently wrong numbers) long after the batch was built. Called on
    an accelerator tensor it still works, at the price of one synchronisation.

    Args:
        targets: class indices ``(N, L)``, real tokens in ``[0, num_classes)``, padding
            ``ignore_index``.
        num_classes: C, the size of the label vocab.
        shape: the expected ``(N, L)``, if known.
        ignore_index: the padding value that is not a class.

    Raises:
        LossContractError: listing the offending values and their first few ``(row, col)``
            positions.
    """
    _check_target_dtype_and_shape(targets, shape)
    bad = ((targets < 0) | (targets >= num_classes)) & (targets != ignore_index)
    if not bool(bad.any()):
        return
    positions = bad.nonzero().tolist()
    values = sorted({int(v) for v in targets[bad].tolist()})
    where = ", ".join(f"({r}, {c})" for r, c in positions[:_MAX_REPORTED])
    more = f" and {len(positions) - _MAX_REPORTED} more" if len(positions) > _MAX_REPORTED else ""
    raise LossContractError(
        f"targets contain values outside [0, {num_classes}) that are not the padding value "
        f"ignore_index={ignore_index}: {values} at (row, col) {where}{more}. Target ids must "
        f"come from the label vocab used to build the model (num_classes={num_classes}); a "
        f"mismatch usually means the vocab was rebuilt or the padding value differs from "
        f"{ignore_index}."
    )


def flatten_logits(logits_ncl: Tensor) -> Tensor:
    """``(N, C, L)`` -> ``(N*L, C)``, row ``n*L + l`` holding the scores of token ``(n, l)``.

    A view, no copy, when ``logits_ncl`` is a permuted view of contiguous ``(N, L, C)`` memory
    (the training step's case); otherwise ``reshape`` copies.
    """
    return logits_ncl.transpose(1, 2).reshape(-1, logits_ncl.shape[1])


def _looks_like_probabilities(logits_ncl: Tensor, targets: Tensor, ignore_index: int) -> bool:
    """One host sync: are the real positions all >= 0 and summing to 1 over the classes?

    Returns False when the batch has no real position (nothing to judge).
    """
    with torch.no_grad():
        real = targets != ignore_index  # (N, L)
        scores = logits_ncl.detach().float()
        non_negative = ((scores >= 0).all(dim=1) | ~real).all()
        sums_to_one = (((scores.sum(dim=1) - 1.0).abs() <= _PROBABILITY_ATOL) | ~real).all()
        return bool(non_negative & sums_to_one & real.any())


def _probability_message(logits_ncl: Tensor) -> str:
    return (
        f"sequence_cross_entropy received probabilities, not logits: at every real position the "
        f"scores of shape {_shape(logits_ncl)} are non-negative and sum to 1 over the class "
        f"dimension. F.cross_entropy applies log_softmax itself, so pass the raw head output "
        f"(unnormalised logits), not softmax output; otherwise the loss and its gradients are "
        f"wrong."
    )


def _check_probabilities(logits_ncl: Tensor, targets: Tensor, ignore_index: int, mode: str) -> None:
    global _probability_check_done
    if mode not in PROBABILITY_CHECK_MODES:
        raise ValueError(
            f"probability_check must be one of {PROBABILITY_CHECK_MODES}; received {mode!r}."
        )
    if mode == "off" or (mode == "warn" and _probability_check_done):
        return
    if mode == "warn":
        _probability_check_done = True
    if not _looks_like_probabilities(logits_ncl, targets, ignore_index):
        return
    if mode == "error":
        raise LossContractError(_probability_message(logits_ncl))
    warnings.warn(
        _probability_message(logits_ncl) + " (Checked on the first call only.)",
        UserWarning,
        stacklevel=3,
    )


def sequence_cross_entropy(
    logits_ncl: Tensor,
    targets: Tensor,
    *,
    num_classes: int | None = None,
    ignore_index: int = IGNORE_INDEX,
    label_smoothing: float = 0.0,
    probability_check: str = "warn",
) -> Tensor:
    """Mean cross-entropy over the real tokens of a padded batch, validated and fast.

    Same value and gradient as ``F.cross_entropy(logits_ncl, targets, ignore_index=ignore_index,
    label_smoothing=label_smoothing)``, computed on the flattened ``(N*L, C)`` layout (see the
    module docstring for the measured speed-up).

    Args:
        logits_ncl: unnormalised scores ``(N, C, L)``; in the training step
            ``head_output.permute(0, 2, 1)`` where ``head_output`` is ``(N, L, C)``.
        targets: class indices ``(N, L)``, integer, in ``[0, C)`` at real tokens and
            ``ignore_index`` at padding (whole sentences of padding are fine).
        num_classes: the size of the label vocab. Given, it enables the transposed-layout check
            (an ``(N, L, C)`` tensor is reported with the ``permute`` that fixes it, except when
            L == C: see :func:`check_logits_layout`); ``None`` means C = ``logits_ncl.shape[1]``
            and only rank/shape consistency is checked.
        ignore_index: target value of padding positions, excluded from the loss and the mean.
        label_smoothing: as in ``F.cross_entropy``, in ``[0, 1]``.
        probability_check: detection of probabilities passed instead of logits (all scores
            non-negative and summing to 1 over the classes at the real positions).
            ``"error"`` (debug mode): checked on every call (one host sync each), raises
            :class:`LossContractError`. ``"warn"`` (default): checked on the first call of the
            process only (one sync, once), emits a one-time ``UserWarning``. ``"off"``: skipped.

    Target values are range-checked here only when ``targets`` live on the CPU, where it costs
    no device sync. On an accelerator the values are checked upstream, on the host, by
    :func:`check_targets` in the LightningModule's ``on_before_batch_transfer``; the dtype and
    shape checks here never sync and always run.

    Returns:
        A scalar tensor: the mean over real tokens (NaN when the batch has none, as
        ``F.cross_entropy``).

    Raises:
        LossContractError: on transposed or malformed logits, non-integer or mis-shaped targets,
            out-of-range target values (CPU targets), or probabilities in ``"error"`` mode.
    """
    check_logits_layout(logits_ncl, num_classes)
    n, c, length = logits_ncl.shape
    _check_target_dtype_and_shape(targets, (n, length), _shape(logits_ncl))
    if targets.device.type == "cpu":
        check_targets(targets, c, ignore_index=ignore_index)
    _check_probabilities(logits_ncl, targets, ignore_index, probability_check)
    return F.cross_entropy(
        flatten_logits(logits_ncl),
        targets.reshape(-1).long(),
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
    )
