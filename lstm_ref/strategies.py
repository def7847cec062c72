"""Hypothesis strategies for property-based tests of LSTM gradients.

Many LSTM backward bugs show only for some shapes: with one batch row a mean and a sum
agree, with one time step nothing is carried back through time, with one layer no
gradient crosses a layer boundary. These strategies draw the shapes and the numbers of
:func:`lstm_ref.loss` and its layers so that a property is tried across all of them.

* :class:`Config` and :func:`configs`: sizes ``N, T, D, H, L, C``, dtype, loss (head and
  objective) and a numerical :data:`regime <REGIMES>`.
* :class:`Problem` and :func:`problems`: parameters, input and target for a config, with
  the arguments of the step, sequence and stacked functions derived from them.
* :func:`regimes`: the regimes, ``"ordinary"``, ``"saturated"`` (gates saturated by large
  weights), ``"near_zero"`` (near-zero weights) and ``"long"`` (long sequences whose
  early steps' gradients vanish).

The numbers of a problem come from a ``numpy.random.Generator`` seeded by hypothesis, so
hypothesis shrinks a failing example by its shape and regime (toward ``N = T = D = H = L
= 1``), never by pushing single weights to zero, which would turn a counterexample into an
LSTM whose gradient paths are switched off. ``Problem.build(config, seed)`` rebuilds any
example, e.g. to pin it with ``@example``.

This module needs hypothesis, an optional dependency (``pip install "gradcheck[hypothesis]"``);
``import lstm_ref`` alone never imports it.

Examples
--------
>>> import numpy as np
>>> from hypothesis import given, settings
>>> import lstm_ref
>>> from lstm_ref.strategies import configs, problems
>>> @settings(max_examples=10)
... @given(problems(configs(L=(1, 2), objectives=["mse"])))
... def test_loss_is_finite(problem):
...     cfg = problem.config
...     value, grads = lstm_ref.loss(problem.params, problem.x, problem.y,
...                                  head=cfg.head, objective=cfg.objective)
...     assert np.isfinite(value) and list(grads) == list(problem.params)
>>> test_loss_is_finite()
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np

from ._errors import ArgumentError
from ._model import HEADS, OBJECTIVES, init_params
from ._types import Array, IntArray

try:
    from hypothesis import assume
    from hypothesis import strategies as st
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "lstm_ref.strategies needs hypothesis, which is not installed; install it with "
        'pip install "gradcheck[hypothesis]"',
        name="hypothesis",
    ) from _exc

__all__ = [
    "DTYPES",
    "FORGET_BIAS",
    "NEAR_ZERO",
    "REGIMES",
    "SATURATION",
    "Config",
    "Problem",
    "configs",
    "problems",
    "regimes",
]

#: Numerical regimes of :meth:`Problem.build`, simplest first (hypothesis shrinks toward it).
#:
#: ``"ordinary"``
#:     :func:`lstm_ref.init_params` as it is: gate pre-activations of order 1.
#: ``"saturated"``
#:     every ``Wx``, ``Wh`` and ``b`` multiplied by :data:`SATURATION`: most gates sit
#:     near 0 or 1, where their derivatives are tiny.
#: ``"near_zero"``
#:     every weight matrix (``Wx``, ``Wh``, ``fc.W``) multiplied by :data:`NEAR_ZERO`:
#:     gates near 1/2 and gradients that cross a weight matrix nearly vanish.
#: ``"long"``
#:     ordinary weights, but forget gate biases at :data:`FORGET_BIAS` so that ``c``
#:     forgets quickly; used with long sequences (``configs(long_T=...)``), where the
#:     gradient reaching the first steps vanishes.
REGIMES = ("ordinary", "saturated", "near_zero", "long")
#: The dtypes of a :class:`Config`.
DTYPES = ("float64", "float32")
#: Factor on ``Wx``, ``Wh`` and ``b`` in the ``"saturated"`` regime.
SATURATION = 6.0
#: Factor on the weight matrices in the ``"near_zero"`` regime.
NEAR_ZERO = 1e-3
#: Forget gate bias in the ``"long"`` regime (sigmoid(-3) = 0.047).
FORGET_BIAS = -3.0

Range: TypeAlias = int | tuple[int, int]

_SIZES = ("N", "T", "D", "H", "L", "C")


@dataclass(frozen=True)
class Config:
    """Sizes, dtype, loss and regime of one problem.

    Attributes
    ----------
    N, T, D, H, L, C : int
        Batch, time steps, input features, hidden units, layers, classes (or mse outputs).
    dtype : {"float64", "float32"}
    head : {"last", "every"}
        The output layer reads the last hidden state or every one (see :func:`lstm_ref.loss`).
    objective : {"softmax", "mse"}
    regime : str
        One of :data:`REGIMES`.

    Examples
    --------
    >>> from lstm_ref.strategies import Config
    >>> cfg = Config(N=2, T=3, D=1, H=4, L=2, C=3, head="every")
    >>> cfg
    Config(N=2, T=3, D=1, H=4, L=2, C=3, dtype='float64', head='every', objective='softmax', regime='ordinary')
    >>> cfg.sizes
    {'N': 2, 'T': 3, 'D': 1, 'H': 4, 'L': 2, 'C': 3}
    >>> cfg.shape
    'N=2 T=3 D=1 H=4 L=2 C=3'
    """  # noqa: E501

    N: int
    T: int
    D: int
    H: int
    L: int
    C: int
    dtype: str = "float64"
    head: str = "last"
    objective: str = "softmax"
    regime: str = "ordinary"

    def __post_init__(self) -> None:
        for name in _SIZES:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ArgumentError(f"{name} must be a positive integer, got {name}={value!r}")
            object.__setattr__(self, name, int(value))
        for name, choices in (
            ("dtype", DTYPES),
            ("head", HEADS),
            ("objective", OBJECTIVES),
            ("regime", REGIMES),
        ):
            value = getattr(self, name)
            if name == "dtype":
                value = _dtype_name(value)
                object.__setattr__(self, name, value)
            if value not in choices:
                raise ArgumentError(
                    f"{name} must be one of {', '.join(map(repr, choices))}, got {name}={value!r}"
                )

    @property
    def sizes(self) -> dict[str, int]:
        """``{"N": N, "T": T, "D": D, "H": H, "L": L, "C": C}``."""
        return {name: getattr(self, name) for name in _SIZES}

    @property
    def shape(self) -> str:
        """The sizes as one short string, e.g. ``"N=2 T=1 D=1 H=1 L=1 C=2"``."""
        return " ".join(f"{k}={v}" for k, v in self.sizes.items())


@dataclass(frozen=True, eq=False)
class Problem:
    """Parameters, input and target of :func:`lstm_ref.loss` for one :class:`Config`.

    Build one with :meth:`build` (or draw them with :func:`problems`). The repr shows only
    the config and the seed, which is all :meth:`build` needs to rebuild it.

    Attributes
    ----------
    config : Config
    seed : int
    params : dict
        As :func:`lstm_ref.init_params` returns them (``layer{k}.*``, ``fc.W``, ``fc.b``),
        in ``config.dtype``, adjusted to the regime.
    x : ndarray (N, T, D)
    y : ndarray
        Integer labels, (N,) or (N, T), for the softmax objective; float targets, (N, C)
        or (N, T, C), for mse.
    """

    config: Config
    seed: int
    params: dict[str, Array] = field(repr=False)
    x: Array = field(repr=False)
    y: Array | IntArray = field(repr=False)

    @classmethod
    def build(cls, config: Config, seed: int = 0) -> Problem:
        """The problem of ``config`` drawn from ``numpy.random.default_rng(seed)``.

        Examples
        --------
        >>> import numpy as np
        >>> from lstm_ref.strategies import Config, Problem
        >>> p = Problem.build(Config(N=2, T=3, D=1, H=4, L=2, C=3, regime="saturated"), seed=7)
        >>> p
        Problem(config=Config(N=2, T=3, D=1, H=4, L=2, C=3, dtype='float64', head='last', objective='softmax', regime='saturated'), seed=7)
        >>> p.x.shape, p.y.shape, p.params["layer1.Wx"].shape
        ((2, 3, 1), (2,), (4, 16))
        >>> all(np.array_equal(v, Problem.build(p.config, 7).params[k]) for k, v in p.params.items())
        True
        """  # noqa: E501
        if not isinstance(config, Config):
            raise ArgumentError(f"config must be a Config, got {type(config).__name__}")
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ArgumentError(f"seed must be an integer >= 0, got seed={seed!r}")
        c = config
        rng = np.random.default_rng(int(seed))
        params = init_params(rng, N=c.N, D=c.D, H=c.H, C=c.C, L=c.L)
        for k in range(c.L):
            p = f"layer{k}."
            if c.regime == "saturated":
                for name in ("Wx", "Wh", "b"):
                    params[p + name] *= SATURATION
            elif c.regime == "near_zero":
                params[p + "Wx"] *= NEAR_ZERO
                params[p + "Wh"] *= NEAR_ZERO
            elif c.regime == "long":
                params[p + "b"][c.H : 2 * c.H] = FORGET_BIAS
        if c.regime == "near_zero":
            params["fc.W"] *= NEAR_ZERO
        dt = np.dtype(c.dtype)
        params = {k: v.astype(dt) for k, v in params.items()}
        x = rng.standard_normal((c.N, c.T, c.D)).astype(dt)
        y: Array | IntArray
        if c.objective == "softmax":
            y = rng.integers(0, c.C, size=(c.N,) if c.head == "last" else (c.N, c.T))
        else:
            shape = (c.N, c.C) if c.head == "last" else (c.N, c.T, c.C)
            y = rng.standard_normal(shape).astype(dt)
        return cls(config=config, seed=int(seed), params=params, x=x, y=y)

    def step_inputs(self) -> dict[str, Array]:
        """Arguments of :func:`lstm_ref.lstm_step_forward` for layer 0's first step.

        ``x`` (N, D) is ``x[:, 0]``; ``prev_h`` and ``prev_c`` are ``layer0.h0`` and
        ``layer0.c0``. New arrays, in the order of the function's arguments.

        Examples
        --------
        >>> from lstm_ref.strategies import Config, Problem
        >>> inputs = Problem.build(Config(N=2, T=3, D=1, H=4, L=1, C=2)).step_inputs()
        >>> {k: v.shape for k, v in inputs.items()}
        {'x': (2, 1), 'prev_h': (2, 4), 'prev_c': (2, 4), 'Wx': (1, 16), 'Wh': (4, 16), 'b': (16,)}
        """  # noqa: E501
        p = self.params
        return {
            "x": self.x[:, 0].copy(),
            "prev_h": p["layer0.h0"].copy(),
            "prev_c": p["layer0.c0"].copy(),
            "Wx": p["layer0.Wx"].copy(),
            "Wh": p["layer0.Wh"].copy(),
            "b": p["layer0.b"].copy(),
        }

    def sequence_inputs(self) -> dict[str, Array]:
        """Arguments of :func:`lstm_ref.lstm_forward` for layer 0 over the whole sequence.

        New arrays, in the order of the function's arguments: ``x, h0, Wx, Wh, b, c0``.

        Examples
        --------
        >>> from lstm_ref.strategies import Config, Problem
        >>> inputs = Problem.build(Config(N=2, T=3, D=1, H=4, L=1, C=2)).sequence_inputs()
        >>> {k: v.shape for k, v in inputs.items()}
        {'x': (2, 3, 1), 'h0': (2, 4), 'Wx': (1, 16), 'Wh': (4, 16), 'b': (16,), 'c0': (2, 4)}
        """  # noqa: E501
        p = self.params
        return {
            "x": self.x.copy(),
            "h0": p["layer0.h0"].copy(),
            "Wx": p["layer0.Wx"].copy(),
            "Wh": p["layer0.Wh"].copy(),
            "b": p["layer0.b"].copy(),
            "c0": p["layer0.c0"].copy(),
        }

    def stack_params(self) -> dict[str, Array]:
        """The parameters of :func:`lstm_ref.stacked_lstm_forward`: every ``layer{k}.*``.

        Examples
        --------
        >>> from lstm_ref.strategies import Config, Problem
        >>> list(Problem.build(Config(N=1, T=1, D=1, H=1, L=2, C=2)).stack_params())
        ['layer0.Wx', 'layer0.Wh', 'layer0.b', 'layer0.h0', 'layer0.c0', 'layer1.Wx', 'layer1.Wh', 'layer1.b', 'layer1.h0', 'layer1.c0']
        """  # noqa: E501
        return {k: v.copy() for k, v in self.params.items() if k.startswith("layer")}


def _dtype_name(value: object) -> object:
    """``"float32"`` for ``np.float32`` or ``np.dtype("float32")``; other values unchanged."""
    if isinstance(value, str):
        return value
    try:
        return np.dtype(value).name  # type: ignore[call-overload]
    except TypeError:
        return value


def _range(name: str, value: object, low: int = 1) -> tuple[int, int]:
    def ok(v: object) -> bool:
        return isinstance(v, int | np.integer) and not isinstance(v, bool) and bool(v >= low)

    if ok(value):
        return int(value), int(value)  # type: ignore[call-overload]
    if isinstance(value, tuple) and len(value) == 2 and all(map(ok, value)):
        lo, hi = int(value[0]), int(value[1])
        if lo <= hi:
            return lo, hi
    raise ArgumentError(
        f"{name} must be an integer >= {low} or a pair (min, max) of them with min <= max, "
        f"got {name}={value!r}"
    )


def _choices(name: str, values: object, allowed: Sequence[str]) -> list[str]:
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise ArgumentError(
            f"{name} must be a non-empty list drawn from {list(allowed)}, got {name}={values!r}"
        )
    out = []
    for value in values:
        if name == "dtypes":
            value = _dtype_name(value)
        if value not in allowed:
            raise ArgumentError(
                f"{name} must be drawn from {list(allowed)}, got {value!r} in {name}={values!r}"
            )
        out.append(value)
    return out


def regimes(names: Sequence[str] = REGIMES) -> st.SearchStrategy[str]:
    """The regimes ``names`` (default: all of :data:`REGIMES`), shrinking toward the first.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> from lstm_ref.strategies import Config, Problem, regimes
    >>> @settings(max_examples=10)
    ... @given(regimes(["saturated", "near_zero"]))
    ... def test_weights_follow_the_regime(regime):
    ...     problem = Problem.build(Config(N=1, T=2, D=1, H=1, L=1, C=2, regime=regime))
    ...     largest = abs(problem.params["layer0.Wh"]).max()
    ...     assert largest > 1e-2 if regime == "saturated" else largest < 1e-2
    >>> test_weights_follow_the_regime()
    """
    return st.sampled_from(_choices("regimes", names, REGIMES))


def configs(
    *,
    N: Range = (1, 5),
    T: Range = (1, 8),
    D: Range = (1, 8),
    H: Range = (1, 8),
    L: Range = (1, 4),
    C: Range = (2, 4),
    dtypes: Sequence[str] = ("float64",),
    heads: Sequence[str] = HEADS,
    objectives: Sequence[str] = OBJECTIVES,
    regimes: Sequence[str] = ("ordinary",),
    d_equals_h: bool | None = None,
    long_T: Range = (16, 32),
) -> st.SearchStrategy[Config]:
    """Configs with sizes in the given ranges; each range is an int or a pair (min, max).

    Hypothesis shrinks every size toward its minimum and every choice toward the first
    entry of its list, so a failure shrinks to the smallest shape that shows it.

    Parameters
    ----------
    N, T, D, H, L, C : int or (int, int)
        Sizes (ranges are inclusive). The defaults cover every case the mission names:
        one and several batch rows, time steps and layers, and ``D == H`` as well as
        ``D != H``.
    dtypes : list of {"float64", "float32"}
    heads : list of {"last", "every"}
    objectives : list of {"softmax", "mse"}
    regimes : list of str
        Names from :data:`REGIMES` (default: ``["ordinary"]``).
    d_equals_h : bool or None
        ``True``: always ``D == H``; ``False``: never; ``None`` (default): both, with
        ``D == H`` about half of the time (independent draws would rarely give it).
    long_T : int or (int, int)
        ``T`` of the ``"long"`` regime, which replaces ``T`` there.

    Returns
    -------
    hypothesis.strategies.SearchStrategy of Config

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> from lstm_ref.strategies import configs
    >>> @settings(max_examples=20)
    ... @given(configs(N=(2, 3), L=1, dtypes=["float32"], d_equals_h=False))
    ... def test_config(cfg):
    ...     assert 2 <= cfg.N <= 3 and cfg.L == 1 and cfg.dtype == "float32"
    ...     assert cfg.D != cfg.H and 1 <= cfg.T <= 8
    >>> test_config()
    """
    ranges = {
        name: _range(name, value)
        for name, value in (("N", N), ("T", T), ("D", D), ("H", H), ("L", L), ("C", C))
    }
    long_range = _range("long_T", long_T)
    dtype_list = _choices("dtypes", dtypes, DTYPES)
    head_list = _choices("heads", heads, HEADS)
    objective_list = _choices("objectives", objectives, OBJECTIVES)
    regime_list = _choices("regimes", regimes, REGIMES)
    (dlo, dhi), (hlo, hhi) = ranges["D"], ranges["H"]
    if d_equals_h is not None and not isinstance(d_equals_h, bool):
        raise ArgumentError(f"d_equals_h must be True, False or None, got {d_equals_h!r}")
    overlap = (max(dlo, hlo), min(dhi, hhi))
    if d_equals_h is True and overlap[0] > overlap[1]:
        raise ArgumentError(f"d_equals_h=True but the ranges D={D!r} and H={H!r} do not overlap")
    if d_equals_h is False and dlo == dhi == hlo == hhi:
        raise ArgumentError(f"d_equals_h=False but D={D!r} and H={H!r} allow only D == H")

    def ints(bounds: tuple[int, int]) -> st.SearchStrategy[int]:
        return st.integers(*bounds)

    @st.composite
    def draw_config(draw: st.DrawFn) -> Config:
        regime = draw(st.sampled_from(regime_list))
        sizes = {"N": draw(ints(ranges["N"]))}
        sizes["T"] = draw(ints(long_range if regime == "long" else ranges["T"]))
        if d_equals_h is True:
            sizes["D"] = sizes["H"] = draw(ints(overlap))
        elif d_equals_h is False:
            sizes["D"] = draw(ints(ranges["D"]))
            others = [h for h in range(hlo, hhi + 1) if h != sizes["D"]]
            assume(others)
            sizes["H"] = draw(st.sampled_from(others))
        else:
            # D is drawn even when the coin then sets D = H: the draws keep one structure,
            # so that a shrinker can turn the coin off without having to change H as well
            sizes["D"] = draw(ints(ranges["D"]))
            sizes["H"] = draw(ints(ranges["H"]))
            if draw(st.booleans()) and overlap[0] <= sizes["H"] <= overlap[1]:
                sizes["D"] = sizes["H"]
        sizes["L"] = draw(ints(ranges["L"]))
        sizes["C"] = draw(ints(ranges["C"]))
        return Config(
            **sizes,
            dtype=draw(st.sampled_from(dtype_list)),
            head=draw(st.sampled_from(head_list)),
            objective=draw(st.sampled_from(objective_list)),
            regime=regime,
        )

    return draw_config()


def problems(
    config: Config | st.SearchStrategy[Config] | None = None,
) -> st.SearchStrategy[Problem]:
    """Problems for a config, or for configs drawn from a strategy (default: :func:`configs`).

    The seed of the numbers is drawn too; ``Problem.build(problem.config, problem.seed)``
    rebuilds a drawn problem exactly.

    Examples
    --------
    >>> import numpy as np
    >>> from hypothesis import given, settings
    >>> from lstm_ref.strategies import Config, Problem, problems
    >>> @settings(max_examples=10)
    ... @given(problems(Config(N=3, T=2, D=2, H=2, L=1, C=2, objective="mse")))
    ... def test_problem(problem):
    ...     assert problem.x.shape == (3, 2, 2) and problem.y.shape == (3, 2)
    ...     again = Problem.build(problem.config, problem.seed)
    ...     assert np.array_equal(again.x, problem.x)
    >>> test_problem()
    """
    if config is None:
        config = configs()
    if isinstance(config, Config):
        config = st.just(config)
    elif not isinstance(config, st.SearchStrategy):
        raise ArgumentError(
            f"config must be a Config or a strategy of them, got {type(config).__name__}"
        )
    seeds = st.integers(0, 2**32 - 1)
    return st.builds(Problem.build, config, seeds)
