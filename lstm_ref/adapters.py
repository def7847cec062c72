"""Adapters: a hand-written LSTM in a common style as an :class:`~lstm_ref.LSTMSubject`.

``lstm_ref.oracle.check_against`` runs an LSTM in one normal form (see
``lstm_ref._subject``); these functions build it for the common shapes of hand-written code,
so that checking one takes a few lines:

:func:`stepwise`
    A stateful layer called once per time step: ``forward(x_t)`` returns ``h_t`` and keeps
    the state inside the object, ``backward(dh_t)`` is called once per step in reverse order
    and returns ``dx_t``, and the gradients accumulate in attributes (document 001's
    ``Wfh_grad``). A list of such layers is a stack.
:func:`sequence`
    An object whose ``forward`` and ``backward`` take the whole sequence (PyTorch's
    nn.LSTM, document 002's layer), optionally returning the final states.
:func:`model`
    A whole model's ``loss(x, y)`` or ``loss(params, x, y)``, returning the loss and the
    gradients (cs231n style, documents 000, 003 and 004) or leaving them in attributes.

Where parameters and gradients live: path templates
---------------------------------------------------
``params`` and ``grads`` are templates of *paths*: ``.`` goes into an attribute, a dict
item or a list element, and the fields are filled in per parameter:

``{key}``    the parameter's key in the layout (``Wfh``, ``weight_ih``, ``W_xi``...)
``{layer}``  the layer, 0 at the bottom
``{top}``    the layer counted from the top (0 for the top layer): gradients returned
             top layer first
``{index}``  the position in the flat list of the parameters, layer by layer in the
             layout's key order, then the output layer's weight and bias

For example ``"{key}_grad"`` (attributes ``Wfh_grad``), ``"grads.{key}"`` (a dict
attribute), ``"{key}_l{layer}"`` (nn.LSTM's ``weight_ih_l0``), ``"layers.{top}.d{key}"``
(a list of per-layer dicts, top layer first) or ``"{index}"`` (a flat list). The number of
layers is found by trying layers 0, 1, 2... until the path of the first key is missing.

Column vectors (document 001): ``columns=True`` passes each step's input as (D, N) and reads
``h_t`` as (H, N); the weights' own shapes come from the layout (``per_gate_col`` stores
(H, D), (H, H) and (H, 1)).

Data conventions of :func:`sequence` and :func:`model` (``data=``): ``"batch_first"``
(x (N, T, D), default), ``"time_major"`` (T, N, D), ``"steps"`` (a list of T arrays (N, D))
or ``"column_steps"`` (a list of T arrays (D, N)); hidden states and their gradients come
and go in the same convention, and labels of every step as (N, T), (T, N), or a list of T
arrays (N,).

Every run installs the parameters it is given into the user's objects and puts the original
arrays back afterwards, also when the user's code raises. State the user's code keeps
(hidden state, caches, gradient attributes) is left as the last run made it.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from ._errors import ArgumentError
from ._layouts import Layout, get_layout
from ._model import HEADS, OBJECTIVES
from ._subject import LSTMSubject, Run
from ._types import Array
from ._validation import check_choice

__all__ = ["DATA", "model", "sequence", "stepwise"]

#: Values of ``data=``: how sequences are passed to and returned from the user's code.
DATA = ("batch_first", "time_major", "steps", "column_steps")
_FIELDS = {"key", "layer", "top", "index"}
_MAX_LAYERS = 64


class _Missing(LookupError):
    pass


# ----------------------------------------------------------------------------------------
# Paths.
# ----------------------------------------------------------------------------------------


def _fields(template: object, what: str) -> set[str]:
    if not isinstance(template, str) or not template:
        raise ArgumentError(
            f"{what} must be a path template such as '{{key}}_grad', got {template!r}"
        )
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise ArgumentError(f"{what}={template!r} is not a valid template: {exc}") from None
    unknown = names - _FIELDS
    if unknown:
        raise ArgumentError(
            f"{what}={template!r} uses the fields {sorted(unknown)}; the fields are {{key}}, "
            f"{{layer}}, {{top}} and {{index}}"
        )
    return names


def _child(obj: Any, part: str) -> Any:
    if isinstance(obj, Mapping):
        if part in obj:
            return obj[part]
        if part.isdigit() and int(part) in obj:
            return obj[int(part)]
        raise _Missing(part)
    if isinstance(obj, list | tuple) and part.isdigit():
        if int(part) < len(obj):
            return obj[int(part)]
        raise _Missing(part)
    try:
        return getattr(obj, part)
    except AttributeError:
        raise _Missing(part) from None


def _get(root: Any, path: str) -> Any:
    obj = root
    for part in path.split("."):
        obj = _child(obj, part)
    return obj


def _set(root: Any, path: str, value: Any) -> None:
    parent_path, _, last = path.rpartition(".")
    parent = _get(root, parent_path) if parent_path else root
    if isinstance(parent, Mapping):
        key: Any = last if last in parent or not last.isdigit() else int(last)
        parent[key] = value  # type: ignore[index]
    elif isinstance(parent, list) and last.isdigit():
        parent[int(last)] = value
    elif isinstance(parent, tuple):
        raise ArgumentError(
            f"cannot set {path!r}: it is an element of a tuple; keep the parameters in a list, "
            "a dict or attributes"
        )
    else:
        setattr(parent, last, value)


def _describe(obj: Any) -> str:
    return type(obj).__name__


class _Where:
    """Where each normal name lives in the user's objects."""

    def __init__(
        self,
        root: Any,
        lay: Layout,
        params: str,
        head: tuple[str, str] | None,
        what: str = "params",
    ) -> None:
        fields = _fields(params, what)
        self.lay = lay
        self.root = root
        self.template = params
        self.L = self._count_layers(root, params, fields, lay, what)
        self.normal: list[str] = [f"layer{k}.{key}" for k in range(self.L) for key in lay.keys]
        self.head = head
        if head is not None:
            self.normal += ["fc.W", "fc.b"]
        self.paths = {name: self.path_of(name, params) for name in self.normal}

    @staticmethod
    def _count_layers(root: Any, template: str, fields: set[str], lay: Layout, what: str) -> int:
        first = lay.keys[0]
        if not fields & {"layer", "top"}:
            path = template.format(key=first, layer=0, top=0, index=0)
            try:
                _get(root, path)
            except _Missing:
                raise ArgumentError(
                    f"{_describe(root)} has no {path!r} ({what}={template!r}, layout "
                    f"{lay.name!r} whose first key is {first!r})"
                ) from None
            return 1
        for k in range(_MAX_LAYERS + 1):
            index = k * len(lay.keys)
            try:
                _get(root, template.format(key=first, layer=k, top=k, index=index))
            except _Missing:
                if k == 0:
                    path = template.format(key=first, layer=0, top=0, index=0)
                    raise ArgumentError(
                        f"{_describe(root)} has no {path!r} ({what}={template!r}, layout "
                        f"{lay.name!r} whose first key is {first!r})"
                    ) from None
                return k
        raise ArgumentError(f"{what}={template!r} finds more than {_MAX_LAYERS} layers")

    def index(self, name: str) -> int:
        return self.normal.index(name)

    def path_of(self, name: str, template: str, head_paths: Sequence[str] | None = None) -> str:
        if name in ("fc.W", "fc.b"):
            paths = head_paths if head_paths is not None else self.head
            assert paths is not None
            return paths[0] if name == "fc.W" else paths[1]
        layer, key = name[len("layer") :].split(".", 1)
        k = int(layer)
        return template.format(key=key, layer=k, top=self.L - 1 - k, index=self.index(name))

    def display(self, name: str) -> str:
        path = self.paths[name]
        if path.replace(".", "").isdigit():  # a position in a list: the layout's name reads better
            return name if self.L > 1 or name.startswith("fc.") else name.split(".", 1)[1]
        return path

    def read(self, root: Any, paths: Mapping[str, str], what: str) -> dict[str, Array]:
        out: dict[str, Array] = {}
        for name, path in paths.items():
            try:
                value = _get(root, path)
            except _Missing:
                raise ArgumentError(
                    f"{_describe(root)} has no {path!r}: cannot read the {what} of {name}"
                ) from None
            if not isinstance(value, np.ndarray):
                raise ArgumentError(
                    f"{path} is a {type(value).__name__}, expected a numpy array ({what} of {name})"
                )
            out[name] = value
        return out

    @contextmanager
    def installed(self, params: Mapping[str, Array]) -> Iterator[None]:
        originals = {name: _get(self.root, path) for name, path in self.paths.items()}
        try:
            for name, path in self.paths.items():
                _set(self.root, path, params[name])
            yield
        finally:
            for name, path in self.paths.items():
                _set(self.root, path, originals[name])


def _grad_paths(
    where: _Where, template: str, head_grads: tuple[str, str] | None, what: str = "grads"
) -> dict[str, str]:
    fields = _fields(template, what)
    paths = {}
    for name in where.normal:
        if name.startswith("fc."):
            if head_grads is not None:
                paths[name] = head_grads[0] if name == "fc.W" else head_grads[1]
                continue
            if fields & {"layer", "top"}:
                raise ArgumentError(
                    f"{what}={template!r} has a layer field; say where the output layer's "
                    "gradients are with head_grads=(weight_path, bias_path)"
                )
            assert where.head is not None
            head_key = where.head[0] if name == "fc.W" else where.head[1]
            paths[name] = template.format(key=head_key, layer=0, top=0, index=where.index(name))
        else:
            paths[name] = where.path_of(name, template)
    return paths


def _copy_grads(grads: Mapping[str, Any]) -> dict[str, Any]:
    return {name: np.array(value, copy=True) for name, value in grads.items()}


# ----------------------------------------------------------------------------------------
# Data conventions.
# ----------------------------------------------------------------------------------------


def _to_user(a: Array, data: str) -> Any:
    """(N, T, F) batch-first -> the user's convention (copies)."""
    if data == "batch_first":
        return a.copy()
    if data == "time_major":
        return np.ascontiguousarray(a.transpose(1, 0, 2))
    if data == "steps":
        return [a[:, t].copy() for t in range(a.shape[1])]
    return [np.ascontiguousarray(a[:, t].T) for t in range(a.shape[1])]


def _from_user(value: Any, data: str, what: str) -> Array:
    """The user's convention -> (N, T, F) batch-first."""
    if data in ("steps", "column_steps"):
        if not isinstance(value, list | tuple) or not value:
            raise ArgumentError(
                f"{what} must be a list of per-step arrays (data={data!r}), got "
                f"{type(value).__name__}"
            )
        steps = [np.asarray(v) for v in value]
        if data == "column_steps":
            steps = [v.T for v in steps]
        return np.stack(steps, axis=1)
    arr = np.asarray(value)
    if arr.ndim != 3:
        raise ArgumentError(f"{what} must be 3-D (data={data!r}), got shape {arr.shape}")
    return arr if data == "batch_first" else arr.transpose(1, 0, 2)


def _labels_to_user(y: Array, head: str | None, data: str) -> Any:
    """Targets of every step, (N, T[, C]) -> the user's convention; last-step targets as is."""
    if head != "every" or data == "batch_first":
        return y.copy()
    if data == "time_major":
        return np.ascontiguousarray(np.swapaxes(y, 0, 1))
    return [y[:, t].copy() for t in range(y.shape[1])]


def _check_data(data: object) -> str:
    check_choice("data", data, DATA)
    assert isinstance(data, str)
    return data


def _method(obj: Any, name: str, what: str) -> Callable[..., Any]:
    fn = getattr(obj, name, None)
    if not callable(fn):
        raise ArgumentError(f"{_describe(obj)} has no method {name!r} ({what}={name!r})")
    return fn  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------------------
# The adapters.
# ----------------------------------------------------------------------------------------


def stepwise(
    layer: Any,
    layout: str,
    *,
    params: str = "{key}",
    grads: str = "{key}_grad",
    forward: str = "forward",
    backward: str = "backward",
    reset: str | None = "reset",
    columns: bool = False,
    state: tuple[str, str] | None = None,
    label: str | None = None,
) -> LSTMSubject:
    """A stateful layer called step by step (or a list of them, bottom first, for a stack).

    A run calls ``reset()`` on every layer, then for each step t ``forward(x_t)`` up the
    stack, then for each step in reverse order ``backward(dh_t)`` down the stack (a layer's
    return value is the upstream gradient of the layer below, or ``dx_t``), and reads the
    gradients at the ``grads`` paths of every layer.

    Parameters
    ----------
    layer : object or list of objects
        The layer(s). Templates are resolved on each layer object (``{layer}`` and ``{top}``
        are its position).
    layout : str
        The layout of its weights (document 001's is ``"per_gate_col"``).
    params, grads : str
        Path templates of the weights and of their gradients (see the module notes).
    forward, backward, reset : str
        Method names; ``reset=None`` when the layer has none (then the layer must start
        each sequence from zero state and zero gradients by itself).
    columns : bool
        Inputs and hidden states are column vectors: ``x_t`` (D, N), ``h_t`` (H, N).
    state : (str, str), optional
        Attribute names of the hidden and cell state after the last step (compared with the
        reference's final states).
    label : str, optional
        What it is, for report titles.

    Returns
    -------
    LSTMSubject

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref.adapters import stepwise
    >>> class Layer:  # document 001's shape: one (H, D) matrix per gate, column vectors
    ...     def __init__(self, D, H):
    ...         rng = np.random.default_rng(0)
    ...         for n in "ifoc":
    ...             setattr(self, f"W{n}x", rng.normal(size=(H, D)))
    ...             setattr(self, f"W{n}h", rng.normal(size=(H, H)))
    ...             setattr(self, f"b{n}", np.zeros((H, 1)))
    ...     def reset(self): ...
    ...     def forward(self, x): ...
    ...     def backward(self, dh): ...
    >>> s = stepwise(Layer(3, 2), "per_gate_col", grads="{key}_grad", columns=True)
    >>> s.layout, list(s.params)[:3], s.name("layer0.Wfh")
    ('per_gate_col', ['layer0.Wix', 'layer0.Wih', 'layer0.bi'], 'Wfh')
    """
    lay = get_layout(layout)
    layers = list(layer) if isinstance(layer, list | tuple) else [layer]
    if not layers:
        raise ArgumentError("layer is an empty list; give the layer object(s)")
    _fields(grads, "grads")
    wheres = []
    for k, obj in enumerate(layers):
        where = _Where(obj, lay, params, None)
        if where.L != 1:
            raise ArgumentError(
                f"params={params!r} finds {where.L} layers in one layer object; for a stack "
                "pass a list of layer objects"
            )
        where.normal = [f"layer{k}.{key}" for key in lay.keys]
        where.paths = {
            f"layer{k}.{key}": params.format(key=key, layer=k, top=len(layers) - 1 - k, index=i)
            for i, key in enumerate(lay.keys)
        }
        wheres.append(where)
        for name in (forward, backward) + ((reset,) if reset is not None else ()):
            _method(obj, name, "forward/backward/reset")
    L = len(layers)
    grad_paths = [
        {
            f"layer{k}.{key}": grads.format(key=key, layer=k, top=L - 1 - k, index=i)
            for i, key in enumerate(lay.keys)
        }
        for k in range(L)
    ]
    current = {n: a for w in wheres for n, a in w.read(w.root, w.paths, "weights").items()}
    normal = [f"layer{k}.{key}" for k in range(L) for key in lay.keys]
    names = {n: n.split(".", 1)[1] if L == 1 else n for n in normal}

    def run(p: Mapping[str, Array], x: Array, dh: Array) -> Run:
        with _all_installed(wheres, p):
            if reset is not None:
                for obj in layers:
                    getattr(obj, reset)()
            T = x.shape[1]
            hs = []
            for t in range(T):
                inp: Any = x[:, t].T.copy() if columns else x[:, t].copy()
                for obj in layers:
                    inp = getattr(obj, forward)(inp)
                hs.append(_step_array(inp, columns, f"{forward}() at step {t}"))
            dxs: list[Array] = []
            for t in reversed(range(T)):
                g: Any = dh[:, t].T.copy() if columns else dh[:, t].copy()
                for k in reversed(range(L)):
                    g = getattr(layers[k], backward)(g)
                    if g is None and k > 0:
                        raise ArgumentError(
                            f"{backward}() of layer {k} returned None; in a stack it must "
                            "return the gradient of its input"
                        )
                if g is not None:
                    dxs.append(_step_array(g, columns, f"{backward}() at step {t}"))
            out_grads: dict[str, Any] = {}
            for k, obj in enumerate(layers):
                out_grads.update(_copy_grads(wheres[k].read(obj, grad_paths[k], "gradient")))
            if len(dxs) == T:
                out_grads["x"] = np.stack(dxs[::-1], axis=1)
            outputs: dict[str, Any] = {"h": np.stack(hs, axis=1)}
            if state is not None:
                for k, obj in enumerate(layers):
                    for attr, suffix in zip(state, ("hT", "cT"), strict=True):
                        value = np.asarray(getattr(obj, attr))
                        outputs[f"layer{k}.{suffix}"] = (value.T if columns else value).copy()
        return Run(outputs, out_grads)

    return LSTMSubject(
        run=run,
        params=current,
        layout=lay.name,
        names=names,
        label=label or f"{_describe(layers[0])} ({lay.name}, step by step)",
    )


@contextmanager
def _all_installed(wheres: Sequence[_Where], params: Mapping[str, Array]) -> Iterator[None]:
    if not wheres:
        yield
        return
    with wheres[0].installed(params), _all_installed(wheres[1:], params):
        yield


def _step_array(value: Any, columns: bool, what: str) -> Array:
    arr = np.array(value, copy=True)
    if arr.ndim != 2:
        raise ArgumentError(
            f"{what} returned shape {arr.shape}; expected one step, "
            f"{'(H, N) columns' if columns else '(N, H) rows'}"
        )
    return arr.T if columns else arr


def sequence(
    module: Any,
    layout: str,
    *,
    params: str = "{key}",
    grads: str = "{key}_grad",
    forward: str = "forward",
    backward: str = "backward",
    data: str = "batch_first",
    states: bool = False,
    label: str | None = None,
) -> LSTMSubject:
    """An LSTM layer or stack whose ``forward(x)`` and ``backward(dh)`` take whole sequences.

    ``forward(x)`` returns the top layer's hidden states (in the ``data`` convention), or
    with ``states=True`` a pair ``(h, (h_n, c_n))`` as nn.LSTM does, ``h_n`` and ``c_n``
    (L, N, H) (or (N, H) for one layer); ``backward(dh)`` returns the gradient of ``x`` (or
    None) and leaves the parameter gradients at the ``grads`` paths.

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref.adapters import sequence
    >>> class NumpyLSTM:  # nn.LSTM's names: weight_ih_l0, ..., gradients in a dict
    ...     def __init__(self, D, H, L):
    ...         for k in range(L):
    ...             setattr(self, f"weight_ih_l{k}", np.zeros((4 * H, D if k == 0 else H)))
    ...             setattr(self, f"weight_hh_l{k}", np.zeros((4 * H, H)))
    ...             setattr(self, f"bias_ih_l{k}", np.zeros(4 * H))
    ...             setattr(self, f"bias_hh_l{k}", np.zeros(4 * H))
    ...         self.grads = {}
    ...     def forward(self, x): ...
    ...     def backward(self, dh): ...
    >>> s = sequence(NumpyLSTM(3, 2, L=2), "torch", params="{key}_l{layer}",
    ...              grads="grads.{key}_l{layer}", states=True)
    >>> s.params["layer1.weight_ih"].shape, s.name("layer1.bias_hh")
    ((8, 2), 'bias_hh_l1')
    """
    lay = get_layout(layout)
    data = _check_data(data)
    where = _Where(module, lay, params, None)
    grad_paths = _grad_paths(where, grads, None)
    _method(module, forward, "forward")
    _method(module, backward, "backward")
    current = where.read(module, where.paths, "weights")
    L = where.L

    def run(p: Mapping[str, Array], x: Array, dh: Array) -> Run:
        with where.installed(p):
            result = getattr(module, forward)(_to_user(x, data))
            outputs: dict[str, Any] = {}
            if states:
                if not (isinstance(result, tuple) and len(result) == 2 and len(result[1]) == 2):
                    raise ArgumentError(
                        f"{forward}() must return (h, (h_n, c_n)) with states=True, got "
                        f"{type(result).__name__}"
                    )
                h_user, (h_n, c_n) = result
                for suffix, value in (("hT", h_n), ("cT", c_n)):
                    arr = np.asarray(value)
                    arr = arr.reshape(L, *arr.shape[-2:]) if arr.ndim in (2, 3) else arr
                    for k in range(L):
                        outputs[f"layer{k}.{suffix}"] = np.array(arr[k], copy=True)
            else:
                h_user = result
            outputs["h"] = np.array(_from_user(h_user, data, f"{forward}()"), copy=True)
            dx = getattr(module, backward)(_to_user(dh, data))
            out_grads = _copy_grads(where.read(module, grad_paths, "gradient"))
            if dx is not None:
                out_grads["x"] = np.array(_from_user(dx, data, f"{backward}()"), copy=True)
        return Run(outputs, out_grads)

    return LSTMSubject(
        run=run,
        params=current,
        layout=lay.name,
        names={name: where.display(name) for name in current},
        label=label or f"{_describe(module)} ({lay.name})",
    )


def model(
    loss: Callable[..., Any],
    params: Any,
    layout: str,
    *,
    keys: str = "{key}",
    grads: str = "{key}",
    head: tuple[str, str] = ("W", "b"),
    head_grads: tuple[str, str] | None = None,
    head_on: str = "last",
    objective: str = "softmax",
    head_transposed: bool = False,
    data: str = "batch_first",
    label: str | None = None,
) -> LSTMSubject:
    """A whole model: the LSTM (layer or stack), an output layer and a loss.

    The model must be :func:`lstm_ref.loss`'s: the output layer reads the top layer's
    last hidden state (``head_on="last"``) or every one (``"every"``), and the loss is the
    softmax cross-entropy or the squared error summed over classes and steps, averaged over
    the batch.

    Parameters
    ----------
    loss : callable
        ``loss(x, y)`` when it is a method of ``params`` (an object holding the weights),
        else ``loss(params, x, y)``. It returns the loss, or ``(loss, grads)``.
    params : object, dict or list
        Where the weights live; ``keys`` is the path template of the LSTM weights in it and
        ``head`` the paths of the output layer's weight and bias.
    layout : str
        The layout of the LSTM weights.
    grads : str
        Path template of the gradients, in the ``grads`` returned by ``loss`` if it returns
        them, else in ``params``. For the output layer it is applied with ``{key}`` set to
        the names in ``head`` (``"d{key}"`` finds ``dWy`` for ``Wy``), or ``head_grads``
        gives its paths.
    head_on, objective : str
        ``"last"`` or ``"every"``; ``"softmax"`` or ``"mse"``.
    head_transposed : bool
        The output weight is stored (C, H) (column vectors), not (H, C).
    data : str
        How ``x`` and the targets of every step are passed (see the module notes).

    Examples
    --------
    >>> import numpy as np
    >>> from lstm_ref.adapters import model
    >>> def lstm_loss(params, X, y):  # document 003's shape: a dict of weights
    ...     ...
    >>> params = {f"W{g}": np.zeros((5, 2)) for g in "ifoc"}
    >>> params |= {f"b{g}": np.zeros((1, 2)) for g in "ifoc"} | {"Wy": np.zeros((2, 3)),
    ...                                                           "by": np.zeros((1, 3))}
    >>> s = model(lstm_loss, params, "concat_hx", grads="d{key}", head=("Wy", "by"),
    ...           head_on="every")
    >>> s.head, s.params["fc.W"].shape, s.name("fc.b")
    ('every', (2, 3), 'by')
    """
    lay = get_layout(layout)
    data = _check_data(data)
    check_choice("head_on", head_on, HEADS)
    check_choice("objective", objective, OBJECTIVES)
    if not callable(loss):
        raise ArgumentError(f"loss must be a callable, got {type(loss).__name__}")
    for what, pair in (("head", head), ("head_grads", head_grads)):
        if pair is not None and (
            not isinstance(pair, tuple)
            or len(pair) != 2
            or not all(isinstance(p, str) for p in pair)
        ):
            raise ArgumentError(f"{what} must be a pair of paths (weight, bias), got {pair!r}")
    where = _Where(params, lay, keys, head, what="keys")
    grad_paths = _grad_paths(where, grads, head_grads)
    current = where.read(params, where.paths, "weights")
    method = getattr(loss, "__self__", None) is params

    def run(p: Mapping[str, Array], x: Array, y: Array) -> Run:
        with where.installed(p):
            args = (_to_user(x, data), _labels_to_user(y, head_on, data))
            result = loss(*args) if method else loss(params, *args)
            if isinstance(result, tuple):
                if len(result) != 2:
                    raise ArgumentError(
                        f"loss must return the loss or (loss, grads), got a tuple of {len(result)}"
                    )
                value, source = result
            else:
                value, source = result, params
            out_grads = _copy_grads(where.read(source, grad_paths, "gradient"))
        return Run({"loss": np.asarray(value)}, out_grads)

    return LSTMSubject(
        run=run,
        params=current,
        layout=lay.name,
        names={name: where.display(name) for name in current},
        head=head_on,
        objective=objective,
        head_transposed=head_transposed,
        label=label or f"{getattr(loss, '__qualname__', 'loss')} ({lay.name} model)",
    )
