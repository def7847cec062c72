"""Hypothesis strategies for property-based gradient checks.

Draw the inputs, shapes and cotangents of a layer with these strategies and check its
gradients with :func:`gradcheck.check_layer` (or any ``check_*`` function) inside a
``@given`` test: the property then holds across shapes, not only at the one a hand-written
test happens to use.

* :func:`arrays`: float arrays whose elements are bounded, finite, and zero or not tiny,
  so finite differences see a smooth function at a scale where their error estimates
  hold (and no product of a few elements underflows).
* :func:`shapes`: array shapes without empty axes (an empty input has nothing to check).
* :func:`cotangents`: upstream gradients for the outputs of a layer, every element
  bounded away from zero, so that no path of the chain rule is switched off by a zero.
* :func:`inputs`: a dict of named arrays, ready to pass as ``inputs`` to a check.

The elements of an array are distinct: they come from a ``numpy.random.Generator`` seeded by
hypothesis (uniform magnitudes, random signs), and :func:`arrays` lets hypothesis overwrite a
few of them (at most one in eight) with values it chooses, such as zero, the bounds or
``tiny``. Arrays whose elements are mostly equal would make ``x.T @ dout`` symmetric and two
inputs identical, hiding a transposed or a swapped gradient. Hypothesis shrinks a failing
example by its shape and those few chosen elements, never by pushing the rest toward zero,
which would switch gradient paths off.

This module needs hypothesis, an optional dependency (``pip install "gradcheck[hypothesis]"``);
``import gradcheck`` alone never imports it.

Examples
--------
>>> import numpy as np
>>> from hypothesis import given, settings
>>> from gradcheck import check_layer
>>> from gradcheck.strategies import arrays, cotangents
>>> def forward(x):
...     return np.tanh(x), x
>>> def backward(dout, x):
...     return (dout * (1 - np.tanh(x) ** 2),)
>>> @settings(max_examples=10)
... @given(x=arrays((2, 3)), dout=cotangents((2, 3)))
... def test_tanh(x, dout):
...     assert check_layer(forward, backward, {"x": x}, cotangents=dout).passed
>>> test_tanh()
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, TypeAlias

import numpy as np
from numpy.typing import DTypeLike, NDArray

from ._api import _float_option
from ._errors import InvalidArgumentError, _show

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "gradcheck.strategies needs hypothesis, which is not installed; install it with "
        'pip install "gradcheck[hypothesis]"',
        name="hypothesis",
    ) from _exc

__all__ = ["TINY", "arrays", "cotangents", "inputs", "shapes"]

#: A shape: an int (one axis) or a tuple of ints.
Shape: TypeAlias = int | tuple[int, ...]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

#: Default smallest magnitude of a nonzero element drawn by :func:`arrays`, per dtype. Below
#: it, products of a few elements (and, under complex step, the step of 1e-20 or 1e-10 times a
#: derivative) reach subnormal numbers, whose relative precision is lost; that probes
#: underflow, not gradients.
TINY = {"float64": 2.0**-100, "float32": 2.0**-20}


def _dtype(dtype: DTypeLike) -> np.dtype[Any]:
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"Expected float32 or float64 for dtype, but got dtype={_show(dtype)} "
            f"(type={type(dtype).__name__})"
        ) from exc
    if dt not in _FLOAT_DTYPES:
        hint = (
            "; draw float32 and cast (float16 and bfloat16 are checked, but drawn in float32)"
            if dt == np.float16
            else "; complex step is method='complex' on real inputs"
            if dt.kind == "c"
            else ""
        )
        raise InvalidArgumentError(f"Expected float32 or float64 for dtype, but got {dt}{hint}")
    return dt


def _shape(name: str, shape: object) -> tuple[int, ...]:
    if isinstance(shape, int | np.integer) and not isinstance(shape, bool):
        shape = (int(shape),)
    if not isinstance(shape, tuple) or not all(
        isinstance(n, int | np.integer) and not isinstance(n, bool) and n >= 1 for n in shape
    ):
        raise InvalidArgumentError(
            f"Expected a shape (a tuple of ints >= 1) for {name}, but got {name}={_show(shape)} "
            f"(type={type(shape).__name__}); gradcheck refuses arrays with no elements"
        )
    return tuple(int(n) for n in shape)


def _representable(value: float, dt: np.dtype[Any], toward_zero: bool) -> float:
    """``value`` rounded to ``dt``, toward zero or away from it (hypothesis needs exact bounds)."""
    if dt == np.float64:
        return value
    v = np.float32(value)
    if toward_zero and abs(float(v)) > abs(value):
        v = np.nextafter(v, np.float32(0))
    if not toward_zero and abs(float(v)) < abs(value):
        v = np.nextafter(v, np.float32(np.inf))
    return float(v)


def _elements(
    dt: np.dtype[Any], bound: float, min_magnitude: float, tiny: float
) -> st.SearchStrategy[float]:
    """Single elements chosen by hypothesis (it favours zero, the bounds and simple values)."""
    width = 8 * dt.itemsize
    hi = _representable(bound, dt, toward_zero=True)
    kw: dict[str, Any] = {
        "width": width,
        "allow_nan": False,
        "allow_infinity": False,
        "allow_subnormal": False,
    }
    if min_magnitude == 0 and tiny == 0:
        return st.floats(-hi, hi, **kw)
    lo = _representable(max(min_magnitude, tiny), dt, toward_zero=False)
    nonzero = st.floats(lo, hi, **kw) | st.floats(-hi, -lo, **kw)
    return nonzero if min_magnitude > 0 else st.just(0.0) | nonzero


#: A counter shared by every array drawn in one example: the k-th array's generator is seeded
#: with its drawn seed and k. Hypothesis sometimes copies one draw over another of the same kind
#: (to try equal values), and two inputs of a check must not become copies of each other.
_ORDINALS = st.shared(st.builds(itertools.count), key="gradcheck.strategies.ordinal")

#: At most one element in this many of an array drawn by :func:`arrays` is chosen by hypothesis
#: rather than by the seeded generator (and at least one element may be, in every array).
_CHOSEN_SHARE = 8


def _seeded(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    dt: np.dtype[Any],
    bound: float,
    min_magnitude: float,
    tiny: float,
) -> NDArray[Any]:
    """Distinct elements: magnitudes uniform in ``[min_magnitude, bound]``, random signs.

    A magnitude that rounds (in ``dt``) outside the bounds or below ``tiny`` (or below the
    smallest normal number) is moved onto the nearest allowed value.
    """
    magnitude = rng.uniform(min_magnitude, bound, size=shape)
    sign = np.where(rng.random(size=shape) < 0.5, -1.0, 1.0)
    lo, hi = _limits(dt, bound, min_magnitude, tiny)
    magnitude = np.clip(magnitude.astype(dt), dt.type(lo), dt.type(hi))
    out: NDArray[Any] = sign.astype(dt) * magnitude
    return out


def _limits(
    dt: np.dtype[Any], bound: float, min_magnitude: float, tiny: float
) -> tuple[float, float]:
    """The smallest and largest magnitude in ``dt`` of a nonzero element, or a clear error."""
    hi = _representable(bound, dt, toward_zero=True)
    lo = _representable(max(min_magnitude, tiny, float(np.finfo(dt).tiny)), dt, toward_zero=False)
    if lo > hi:
        raise InvalidArgumentError(
            f"no {dt} number lies between min_magnitude={min_magnitude!r} (or tiny={tiny!r}) "
            f"and bound={bound!r}; widen the range"
        )
    return lo, hi


def _diverse_arrays(
    dt: np.dtype[Any],
    shape: tuple[int, ...] | st.SearchStrategy[tuple[int, ...]],
    bound: float,
    min_magnitude: float,
    tiny: float,
    chosen: st.SearchStrategy[float] | None,
) -> st.SearchStrategy[NDArray[Any]]:
    """Seeded arrays of ``shape``, with a few elements drawn from ``chosen`` when given."""
    shapes_ = shape if isinstance(shape, st.SearchStrategy) else st.just(shape)

    @st.composite
    def draw_array(draw: st.DrawFn) -> NDArray[Any]:
        s = draw(shapes_)
        seed = draw(st.integers(0, 2**64 - 1))
        ordinal = next(draw(_ORDINALS))
        rng = np.random.default_rng([seed, ordinal])
        x = _seeded(rng, s, dt, bound, min_magnitude, tiny)
        if chosen is not None:
            flat = x.reshape(-1)
            picks = draw(
                st.lists(
                    st.tuples(st.integers(0, flat.size - 1), chosen),
                    max_size=max(1, flat.size // _CHOSEN_SHARE),
                    unique_by=lambda pick: pick[0],
                )
            )
            for index, value in picks:
                flat[index] = value
        return x

    return draw_array()


def _check_bounds(bound: object, min_magnitude: object) -> tuple[float, float]:
    b = _float_option("bound", bound, positive=True)
    m = _float_option("min_magnitude", min_magnitude)
    if m >= b:
        raise InvalidArgumentError(
            f"min_magnitude must be smaller than bound, got min_magnitude={m!r} and bound={b!r}"
        )
    return b, m


def _check_tiny(tiny: object, dt: np.dtype[Any], bound: float) -> float:
    if tiny is None:
        return TINY[dt.name]
    t = _float_option("tiny", tiny)
    if t >= bound:
        raise InvalidArgumentError(
            f"tiny must be smaller than bound, got tiny={t!r} and bound={bound!r}"
        )
    return t


def arrays(
    shape: Shape | st.SearchStrategy[tuple[int, ...]],
    *,
    dtype: DTypeLike = np.float64,
    bound: float = 2.0,
    min_magnitude: float = 0.0,
    tiny: float | None = None,
) -> st.SearchStrategy[NDArray[Any]]:
    """Float arrays with elements in ``[-bound, bound]``, suited to finite differences.

    Elements are finite, and zero or at least ``tiny`` in magnitude (never subnormal), so
    a step of finite differences stays within the range where the function is smooth and
    its rounding error is what the error estimates assume. They are distinct (uniform
    magnitudes with random signs, from a generator seeded by hypothesis), except for at most
    one in eight that hypothesis chooses itself (zero, the bounds, ``tiny``...). Hypothesis
    shrinks the shape and the elements it chose, not the seeded ones.

    Parameters
    ----------
    shape : int, tuple of int, or strategy of tuples
        The array shape, or a strategy such as :func:`shapes`.
    dtype : float32 or float64
    bound : float
        Largest magnitude of an element (default 2: tanh and sigmoid are far from flat).
    min_magnitude : float
        Smallest magnitude of an element (default 0); keeps elements away from zero for
        functions with a kink or a singularity there (abs, division, log).
    tiny : float, optional
        Smallest magnitude of a nonzero element (default :data:`TINY` of the dtype:
        2**-100 for float64, 2**-20 for float32); 0 allows any normal number.

    Returns
    -------
    hypothesis.strategies.SearchStrategy of ndarray

    Raises
    ------
    InvalidArgumentError
        On a dtype other than float32/float64, a shape with an empty axis, or bounds that
        are not finite, positive and ordered.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from gradcheck.strategies import arrays
    >>> @settings(max_examples=20)
    ... @given(arrays((3, 4), dtype=np.float32, bound=1.0, min_magnitude=0.5))
    ... def test_bounded(x):
    ...     assert x.shape == (3, 4) and x.dtype == np.float32
    ...     assert np.all((0.5 <= np.abs(x)) & (np.abs(x) <= 1.0))
    >>> test_bounded()
    """
    dt = _dtype(dtype)
    b, m = _check_bounds(bound, min_magnitude)
    t = _check_tiny(tiny, dt, b)
    _limits(dt, b, m, t)
    if not isinstance(shape, st.SearchStrategy):
        shape = _shape("shape", shape)
    return _diverse_arrays(dt, shape, b, m, t, chosen=_elements(dt, b, m, t))


def shapes(
    *, min_dims: int = 1, max_dims: int = 3, min_side: int = 1, max_side: int = 5
) -> st.SearchStrategy[tuple[int, ...]]:
    """Array shapes with ``min_dims`` to ``max_dims`` axes of ``min_side`` to ``max_side``.

    Sides are at least 1: an array with an empty axis has no element to check. Hypothesis
    shrinks toward fewer and shorter axes.

    Raises
    ------
    InvalidArgumentError
        When a bound is not an integer, ``min_side < 1``, or a minimum exceeds its maximum.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> from gradcheck.strategies import arrays, shapes
    >>> @settings(max_examples=20)
    ... @given(arrays(shapes(max_dims=2, max_side=4)))
    ... def test_shape(x):
    ...     assert 1 <= x.ndim <= 2 and 1 <= min(x.shape) and max(x.shape) <= 4
    >>> test_shape()
    """
    for name, value, low in (
        ("min_dims", min_dims, 0),
        ("max_dims", max_dims, 0),
        ("min_side", min_side, 1),
        ("max_side", max_side, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidArgumentError(
                f"Expected an integer >= {low} for {name}, but got {name}={_show(value)} "
                f"(type={type(value).__name__})"
            )
    for lo_name, lo, hi_name, hi in (
        ("min_dims", min_dims, "max_dims", max_dims),
        ("min_side", min_side, "max_side", max_side),
    ):
        if lo > hi:
            raise InvalidArgumentError(f"{lo_name}={lo} is larger than {hi_name}={hi}")
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def cotangents(
    *output_shapes: Shape,
    dtype: DTypeLike = np.float64,
    bound: float = 1.0,
    min_magnitude: float = 0.1,
) -> st.SearchStrategy[tuple[NDArray[Any], ...]]:
    """Upstream gradients for a layer's outputs: a tuple with one array per output shape.

    Pass the drawn tuple as ``cotangents=`` to :func:`gradcheck.check_layer` or
    :func:`gradcheck.check_vjp`. Every element has a magnitude between ``min_magnitude``
    and ``bound``: a zero element would switch off every path of the chain rule through
    that output element, and a backward pass that mishandles only that path would pass.
    Elements are distinct (uniform magnitudes with random signs, from a generator seeded by
    hypothesis): equal elements would let a gradient summed over the wrong axis, or taken
    from the wrong output, agree with the right one.

    Parameters
    ----------
    *output_shapes : int or tuple of int
        The shapes of the outputs, in order.
    dtype : float32 or float64
        The dtype of the outputs.
    bound, min_magnitude : float
        Largest and smallest magnitude of an element (defaults 1 and 0.1).

    Returns
    -------
    hypothesis.strategies.SearchStrategy of tuple of ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from gradcheck import check_vjp
    >>> from gradcheck.strategies import arrays, cotangents
    >>> @settings(max_examples=10)
    ... @given(x=arrays(4), douts=cotangents(4, 4))
    ... def test_sin_cos(x, douts):
    ...     assert all(np.abs(d).min() >= 0.1 for d in douts)
    ...     vjp = lambda d, x: d[0] * np.cos(x) - d[1] * np.sin(x)
    ...     assert check_vjp(lambda x: (np.sin(x), np.cos(x)), vjp, {"x": x},
    ...                      cotangents=douts).passed
    >>> test_sin_cos()
    """
    if not output_shapes:
        raise InvalidArgumentError("cotangents needs at least one output shape")
    dt = _dtype(dtype)
    b, m = _check_bounds(bound, min_magnitude)
    if m == 0:
        raise InvalidArgumentError(
            "min_magnitude must be > 0 for cotangents: a zero cotangent element hides every "
            "gradient path through that output element"
        )
    _limits(dt, b, m, 0.0)
    parsed = [_shape(f"output_shapes[{k}]", s) for k, s in enumerate(output_shapes)]
    return st.tuples(*(_diverse_arrays(dt, s, b, m, 0.0, chosen=None) for s in parsed))


def inputs(
    input_shapes: Mapping[str, Shape | st.SearchStrategy[tuple[int, ...]]],
    *,
    dtype: DTypeLike = np.float64,
    bound: float = 2.0,
    min_magnitude: float = 0.0,
    tiny: float | None = None,
) -> st.SearchStrategy[dict[str, NDArray[Any]]]:
    """Named arrays, one per entry of ``input_shapes``, to pass as a check's ``inputs``.

    Each array is drawn by :func:`arrays` with the same ``dtype``, ``bound``,
    ``min_magnitude`` and ``tiny``; the dict keeps the order of ``input_shapes`` (the order of the
    forward function's arguments).

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from gradcheck import check_layer
    >>> from gradcheck.strategies import inputs
    >>> def forward(x, w):
    ...     return x @ w, (x, w)
    >>> def backward(dout, cache):
    ...     x, w = cache
    ...     return dout @ w.T, x.T @ dout
    >>> @settings(max_examples=10)
    ... @given(inputs({"x": (3, 2), "w": (2, 4)}))
    ... def test_matmul(named):
    ...     assert list(named) == ["x", "w"]
    ...     assert check_layer(forward, backward, named).passed
    >>> test_matmul()
    """
    if not isinstance(input_shapes, Mapping) or not input_shapes:
        raise InvalidArgumentError(
            f"Expected a non-empty dict mapping names to shapes for input_shapes, but got "
            f"input_shapes={_show(input_shapes)} (type={type(input_shapes).__name__})"
        )
    for key in input_shapes:
        if not isinstance(key, str):
            raise InvalidArgumentError(
                f"Expected string names as keys of input_shapes, but got {_show(key)} "
                f"(type={type(key).__name__})"
            )
    names = list(input_shapes)
    drawn = st.tuples(
        *(
            arrays(shape, dtype=dtype, bound=bound, min_magnitude=min_magnitude, tiny=tiny)
            for shape in input_shapes.values()
        )
    )
    # not st.fixed_dictionaries: it does not keep the order of the keys
    return drawn.map(lambda values: dict(zip(names, values, strict=True)))
