"""Shared pieces of the plugin tests: a layer to check and how to run an inner pytest."""

from __future__ import annotations

# the plugin is loaded explicitly, whether or not the package's entry point is installed
PLUGIN_ARGS = ("-p", "no:gradcheck", "-p", "gradcheck._plugin", "-p", "no:cacheprovider")

LAYER = """
import numpy as np
import pytest


def forward(x, w):
    out = np.tanh(x @ w)
    return out, (x, w, out)


def backward(dout, cache):
    x, w, out = cache
    da = dout * (1 - out**2)
    return da @ w.T, x.T @ da


def backward_bad_unit_b(dout, cache):
    dx, dw = backward(dout, cache)
    dw[:, 2:] *= 1.01  # the second block of units is wrong
    return dx, dw


def inputs(seed=0):
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((3, 2)), "w": rng.standard_normal((2, 4))}


NOTES = {"w": {"axes": ["input", ("unit", ("a", "b"))], "group": "dense"}}
"""


def run(pytester, *args):
    return pytester.runpytest(*PLUGIN_ARGS, *args)


def warm_up():
    """Import what rendering a report imports, in this process, before pytester runs.

    pytester removes the modules an inner run imported when it ends; a numpy extension module
    imported there (through matplotlib) cannot be imported a second time in the same process.
    """
    import numpy as np

    import gradcheck as gc

    result = gc.check_grad(lambda x: float(np.sum(x**2)), lambda x: (2 * x,), {"x": np.ones(2)})
    gc.report(result, "html")
