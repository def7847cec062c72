"""Axis annotations: what the axes of an input mean, for structure-aware reports and diagnosis.

An annotation is plain data, so packages that do not depend on gradcheck (such as ``lstm_ref``) can
supply them. The accepted form, per input, is a mapping with the optional keys

``axes``
    one entry per array axis: ``None`` (unnamed), a name such as ``"time"``, or a pair
    ``(name, labels)`` meaning the axis is split into ``len(labels)`` equal consecutive blocks,
    for example ``("gate", ("i", "f", "o", "g"))`` for a packed LSTM weight's ``4H`` axis.
``group``
    a label grouping several inputs, for example ``"layer 1"``.

or an :class:`Annotation` instance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ._errors import InvalidArgumentError, _show

__all__ = ["Annotation", "AxisInfo"]


@dataclass(frozen=True)
class AxisInfo:
    """The meaning of one axis of an input.

    Parameters
    ----------
    name : str or None
        What the axis indexes (``"time"``, ``"batch"``, ``"gate"``...), or None.
    labels : tuple of str or None
        When given, the axis is split into ``len(labels)`` equal consecutive blocks with these
        labels (a packed weight's gate axis).
    """

    name: str | None = None
    labels: tuple[str, ...] | None = None

    def block_of(self, index: int, length: int) -> str | None:
        """Return the label of the block holding ``index`` on an axis of ``length`` elements.

        Examples
        --------
        >>> AxisInfo("gate", ("i", "f", "o", "g")).block_of(5, 8)
        'o'
        """
        if self.labels is None:
            return None
        width = length // len(self.labels)
        return self.labels[min(index // width, len(self.labels) - 1)]


@dataclass(frozen=True)
class Annotation:
    """Axis meanings and a group label for one input.

    Parameters
    ----------
    axes : tuple of AxisInfo
        One entry per axis of the input (or empty when unknown).
    group : str or None
        A label shared by related inputs, such as ``"layer 0"``.

    Examples
    --------
    >>> spec = {"axes": ["input", ("gate", "ifog")], "group": "layer 0"}
    >>> a = Annotation.parse(spec, "Wx", (3, 8))
    >>> a.axes[1]
    AxisInfo(name='gate', labels=('i', 'f', 'o', 'g'))
    """

    axes: tuple[AxisInfo, ...] = ()
    group: str | None = None

    def axis_named(self, name: str) -> int | None:
        """Return the position of the axis called ``name``, or None."""
        for position, axis in enumerate(self.axes):
            if axis.name == name:
                return position
        return None

    @classmethod
    def parse(cls, spec: object, input_name: str, shape: tuple[int, ...]) -> Annotation:
        """Validate the plain-data form of an annotation against an input's shape."""
        where = f"annotations[{input_name!r}]"
        if isinstance(spec, Annotation):
            axes: Sequence[object] = spec.axes
            group: object = spec.group
        elif isinstance(spec, Mapping):
            unknown = set(spec) - {"axes", "group"}
            if unknown:
                raise InvalidArgumentError(
                    f"{where} has unknown keys {sorted(unknown)}; expected only 'axes' and 'group'"
                )
            axes = spec.get("axes", ())
            group = spec.get("group")
        else:
            raise InvalidArgumentError(
                f"Expected a mapping with keys 'axes' and 'group' for {where}, "
                f"but got {_show(spec)} (type={type(spec).__name__})"
            )
        if group is not None and not isinstance(group, str):
            raise InvalidArgumentError(f"{where}['group'] must be a string, got {_show(group)}")
        if isinstance(axes, str) or not isinstance(axes, Sequence):
            raise InvalidArgumentError(
                f"{where}['axes'] must be a list with one entry per axis, got {_show(axes)}"
            )
        if axes and len(axes) != len(shape):
            raise InvalidArgumentError(
                f"{where}['axes'] has {len(axes)} entries but input {input_name!r} has "
                f"{len(shape)} axes (shape {shape})"
            )
        parsed = tuple(
            _parse_axis(entry, f"{where}['axes'][{i}]", shape[i]) for i, entry in enumerate(axes)
        )
        return cls(parsed, group)


def _parse_axis(entry: object, where: str, length: int) -> AxisInfo:
    if isinstance(entry, AxisInfo):
        name, labels_spec = entry.name, entry.labels
    elif entry is None or isinstance(entry, str):
        return AxisInfo(entry)
    elif isinstance(entry, Sequence) and len(entry) == 2 and isinstance(entry[0], str):
        name, labels_spec = entry[0], entry[1]
    else:
        raise InvalidArgumentError(
            f"{where} must be None, an axis name, or a (name, labels) pair, got {_show(entry)}"
        )
    if labels_spec is None:
        return AxisInfo(name)
    try:
        labels = tuple(str(label) for label in labels_spec)
    except (TypeError, ValueError):  # not iterable (an int, a 0-d array), or unprintable
        raise InvalidArgumentError(
            f"{where} has labels {_show(labels_spec)} (type={type(labels_spec).__name__}); "
            "expected a list of block labels such as ('i', 'f', 'o', 'g'), or a string of "
            "one-letter labels"
        ) from None
    if not labels or length % len(labels):
        raise InvalidArgumentError(
            f"{where} splits an axis of length {length} into {len(labels)} blocks {labels}; "
            "the length must be a positive multiple of the number of labels"
        )
    return AxisInfo(name, labels)
