"""The fully connected output layer and the two losses.

The affine layers work on 2-D row blocks internally (``affine_rows``), so that the
stacked model can apply the same code to time-major hidden states without copying them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._errors import ArgumentError
from ._types import Array, IntArray
from ._validation import check_dims, check_labels, check_same_dtype, check_shape, float_array

__all__ = [
    "affine_backward",
    "affine_forward",
    "mse_loss",
    "softmax_loss",
    "temporal_affine_backward",
    "temporal_affine_forward",
]


# ----------------------------------------------------------------------------------------
# Unchecked kernels.
# ----------------------------------------------------------------------------------------


def affine_rows(x: Array, w: Array, b: Array) -> Array:
    """``x @ w + b`` for x (M, H), w (H, C), b (C,); no checks."""
    out: Array = np.matmul(x, w)
    out += b
    return out


def affine_rows_backward(dout: Array, x: Array, w: Array) -> tuple[Array, Array, Array]:
    """Gradients ``(dx, dw, db)`` of :func:`affine_rows` for dout (M, C); no checks."""
    return np.matmul(dout, w.T), np.matmul(x.T, dout), dout.sum(axis=0)


def softmax_loss_unchecked(scores: Array, y: IntArray) -> tuple[Any, Array]:
    """Softmax cross-entropy, summed over all but the batch axis, mean over the batch.

    ``scores`` is (N, C) or (N, T, C) and ``y`` (N,) or (N, T). The shift by the row
    maximum of the real part is a constant (the value is independent of it), so it is
    not a comparison on the differentiated path and complex steps pass through it.
    """
    N, C = scores.shape[0], scores.shape[-1]
    shifted = scores - scores.real.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=-1, keepdims=True)
    picked = np.take_along_axis(shifted, y[..., None], axis=-1)
    loss = (np.log(total) - picked).sum() / N
    dscores = exp / total
    dscores -= y[..., None] == np.arange(C)  # one-hot of the labels
    dscores /= N
    return loss, dscores


def mse_loss_unchecked(pred: Array, target: Array) -> tuple[Any, Array]:
    """Sum of squared errors over all but the batch axis, mean over the batch; no checks."""
    N = pred.shape[0]
    diff = pred - target
    loss = (diff * diff).sum() / N
    diff *= 2 / N
    return loss, diff


# ----------------------------------------------------------------------------------------
# Public API.
# ----------------------------------------------------------------------------------------


def _check_affine(x: object, w: object, b: object, x_shape: str) -> tuple[Array, Array, Array]:
    x = float_array("x", x)
    w = float_array("w", w)
    b = float_array("b", b)
    check_dims("x", x, x_shape)
    check_dims("w", w, "(H, C)")
    check_dims("b", b, "(C,)")
    H = x.shape[-1]
    check_shape("w", w, (H, w.shape[1]), "(H, C)", f"x has H={H} features")
    C = w.shape[1]
    check_shape("b", b, (C,), "(C,)", f"w has C={C} columns")
    check_same_dtype(("x", x), ("w", w), ("b", b))
    return x, w, b


def _check_affine_cache(cache: object) -> tuple[Array, Array]:
    if (
        not isinstance(cache, tuple)
        or len(cache) != 2
        or not all(isinstance(a, np.ndarray) for a in cache)
    ):
        raise ArgumentError(
            "cache must be the (x, w) tuple returned by the matching forward function"
        )
    return cache[0], cache[1]


def affine_forward(x: Array, w: Array, b: Array) -> tuple[Array, tuple[Array, Array]]:
    """Fully connected layer on one step: ``out = x @ w + b``.

    Parameters
    ----------
    x : ndarray (N, H)
    w : ndarray (H, C)
    b : ndarray (C,)

    Returns
    -------
    out : ndarray (N, C)
    cache : tuple (x, w)
        For :func:`affine_backward`.

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref import affine_forward, affine_backward
    >>> out, cache = affine_forward(np.ones((2, 3)), np.ones((3, 4)), np.arange(4.0))
    >>> out
    array([[3., 4., 5., 6.],
           [3., 4., 5., 6.]])
    >>> dx, dw, db = affine_backward(np.ones((2, 4)), cache)
    >>> db
    array([2., 2., 2., 2.])
    """
    x, w, b = _check_affine(x, w, b, "(N, H)")
    return affine_rows(x, w, b), (x, w)


def affine_backward(dout: Array, cache: tuple[Array, Array]) -> tuple[Array, Array, Array]:
    """Backward pass of :func:`affine_forward`.

    Parameters
    ----------
    dout : ndarray (N, C)
    cache : tuple (x, w)

    Returns
    -------
    dx : ndarray (N, H)
        ``dout @ w.T``
    dw : ndarray (H, C)
        ``x.T @ dout``
    db : ndarray (C,)
        ``dout`` summed over the batch.

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref import affine_forward, affine_backward
    >>> _, cache = affine_forward(np.ones((2, 3)), np.ones((3, 1)), np.zeros(1))
    >>> dx, dw, db = affine_backward(np.array([[1.0], [2.0]]), cache)
    >>> dw.ravel(), db
    (array([3., 3., 3.]), array([3.]))
    """
    x, w = _check_affine_cache(cache)
    dout = float_array("dout", dout)
    check_dims("dout", dout, "(N, C)")
    check_shape("dout", dout, (x.shape[0], w.shape[1]), "(N, C)", "of the forward pass")
    check_same_dtype(("x", x), ("dout", dout))
    return affine_rows_backward(dout, x, w)


def temporal_affine_forward(x: Array, w: Array, b: Array) -> tuple[Array, tuple[Array, Array]]:
    """Fully connected layer applied at every time step: ``out[:, t] = x[:, t] @ w + b``.

    Parameters
    ----------
    x : ndarray (N, T, H)
    w : ndarray (H, C)
    b : ndarray (C,)

    Returns
    -------
    out : ndarray (N, T, C)
    cache : tuple (x, w)
        For :func:`temporal_affine_backward`.

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref import temporal_affine_forward
    >>> out, _ = temporal_affine_forward(np.ones((2, 5, 3)), np.ones((3, 4)), np.zeros(4))
    >>> out.shape
    (2, 5, 4)
    """
    x, w, b = _check_affine(x, w, b, "(N, T, H)")
    N, T, H = x.shape
    out = affine_rows(x.reshape(N * T, H), w, b)
    return out.reshape(N, T, w.shape[1]), (x, w)


def temporal_affine_backward(dout: Array, cache: tuple[Array, Array]) -> tuple[Array, Array, Array]:
    """Backward pass of :func:`temporal_affine_forward`.

    Parameters
    ----------
    dout : ndarray (N, T, C)
    cache : tuple (x, w)

    Returns
    -------
    dx : ndarray (N, T, H)
    dw : ndarray (H, C)
        Summed over batch and time.
    db : ndarray (C,)
        Summed over batch and time.

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref import temporal_affine_forward, temporal_affine_backward
    >>> _, cache = temporal_affine_forward(np.ones((2, 5, 3)), np.ones((3, 4)), np.zeros(4))
    >>> dx, dw, db = temporal_affine_backward(np.ones((2, 5, 4)), cache)
    >>> dx.shape, dw[0, 0], db[0]
    ((2, 5, 3), np.float64(10.0), np.float64(10.0))
    """
    x, w = _check_affine_cache(cache)
    N, T, H = x.shape
    C = w.shape[1]
    dout = float_array("dout", dout)
    check_dims("dout", dout, "(N, T, C)")
    check_shape("dout", dout, (N, T, C), "(N, T, C)", "of the forward pass")
    check_same_dtype(("x", x), ("dout", dout))
    dx, dw, db = affine_rows_backward(dout.reshape(N * T, C), x.reshape(N * T, H), w)
    return dx.reshape(N, T, H), dw, db


def softmax_loss(scores: Array, y: IntArray) -> tuple[Any, Array]:
    """Softmax cross-entropy loss and its gradient.

    For scores (N, C) and labels y (N,)::

        loss = (1/N) * sum_n [ log(sum_c exp(scores[n, c])) - scores[n, y[n]] ]

    For scores (N, T, C) and labels y (N, T) the bracket is also summed over t (summed
    over time, mean over the batch)::

        loss = (1/N) * sum_n sum_t [ log(sum_c exp(scores[n, t, c])) - scores[n, t, y[n, t]] ]

    Parameters
    ----------
    scores : ndarray (N, C) or (N, T, C)
    y : integer ndarray (N,) or (N, T)
        Class labels in ``[0, C)``.

    Returns
    -------
    loss : numpy scalar, dtype of ``scores``
    dscores : ndarray, shape of ``scores``
        ``(softmax(scores) - onehot(y)) / N``.

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref import softmax_loss
    >>> loss, dscores = softmax_loss(np.zeros((2, 4)), np.array([0, 3]))
    >>> round(float(loss), 6), float(np.log(4))  # uniform scores: log C
    (1.386294, 1.3862943611198906)
    >>> dscores[0]
    array([-0.375,  0.125,  0.125,  0.125])
    """
    scores = float_array("scores", scores)
    check_dims("scores", scores, "(N, T, C)" if scores.ndim == 3 else "(N, C)")
    symbolic = "(N,)" if scores.ndim == 2 else "(N, T)"
    because = f"scores has shape {scores.shape}"
    labels = check_labels("y", y, scores.shape[:-1], symbolic, scores.shape[-1], because)
    return softmax_loss_unchecked(scores, labels)


def mse_loss(pred: Array, target: Array) -> tuple[Any, Array]:
    """Mean-squared-error loss (sum over non-batch elements, mean over batch) and gradient.

    For pred and target of shape (N, ...)::

        loss = (1/N) * sum over all elements of (pred - target)**2

    There is no factor 1/2, so the gradient is ``dpred = 2 * (pred - target) / N``.

    Parameters
    ----------
    pred : ndarray (N, C) or (N, T, C)
    target : ndarray, same shape and dtype as ``pred``

    Returns
    -------
    loss : numpy scalar, dtype of ``pred``
    dpred : ndarray, shape of ``pred``

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref import mse_loss
    >>> loss, dpred = mse_loss(np.array([[1.0, 2.0], [3.0, 4.0]]), np.zeros((2, 2)))
    >>> float(loss)  # (1 + 4 + 9 + 16) / 2
    15.0
    >>> dpred
    array([[1., 2.],
           [3., 4.]])
    """
    pred = float_array("pred", pred)
    target = float_array("target", target)
    symbolic = "(N, T, C)" if pred.ndim == 3 else "(N, C)"
    check_dims("pred", pred, symbolic)
    check_shape("target", target, pred.shape, symbolic, f"pred has shape {pred.shape}")
    check_same_dtype(("pred", pred), ("target", target))
    return mse_loss_unchecked(pred, target)
