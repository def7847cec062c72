"""Custom autograd Functions as users write them, right and with planted bugs, for the tests."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="PyTorch is not installed (pip install torch)")

K = 0.7978845608028654  # sqrt(2 / pi)
C = 0.044715


class Gelu(torch.autograd.Function):
    """The tanh approximation of GELU, fused."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return 0.5 * x * (1 + torch.tanh(K * (x + C * x**3)))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        t = torch.tanh(K * (x + C * x**3))
        return grad * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * K * (1 + 3 * C * x * x))


class GeluMissingTerm(Gelu):
    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        t = torch.tanh(K * (x + C * x**3))
        return grad * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * K)  # d/dx of C x^3 left out


class GeluAbsGrad(Gelu):
    """Right values for a positive grad_output, but |grad_output| is not linear."""

    @staticmethod
    def backward(ctx, grad):
        return Gelu.backward(ctx, grad.abs())


class GeluFloat64Grad(Gelu):
    """Returns its gradient in float64 whatever the input's dtype (torch casts it back)."""

    @staticmethod
    def backward(ctx, grad):
        return Gelu.backward(ctx, grad).double()


class GeluCounter(Gelu):
    """Scales its gradient by the number of times backward ran: not reentrant."""

    @staticmethod
    def forward(ctx, x):
        ctx.runs = 0
        return Gelu.forward(ctx, x)

    @staticmethod
    def backward(ctx, grad):
        ctx.runs += 1
        return Gelu.backward(ctx, grad) * ctx.runs


class Linear(torch.autograd.Function):
    """y = x @ w + b."""

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        return x @ w + b

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        return grad @ w.T, x.T @ grad, grad.sum(0)


class LinearBiasUnreduced(Linear):
    """Returns the bias gradient per row (N, H): torch sums it to (H,) silently."""

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        return grad @ w.T, x.T @ grad, grad


class LinearTransposed(Linear):
    """The weight gradient of a square weight, transposed."""

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        return grad @ w.T, (x.T @ grad).T, grad.sum(0)


class LinearNewStyle(torch.autograd.Function):
    """The style with ``setup_context``: forward has no ctx."""

    @staticmethod
    def forward(x, w, b):
        return x @ w + b

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, w, _ = inputs
        ctx.save_for_backward(x, w)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        return grad @ w.T, x.T @ grad, grad.sum(0)


class Scale(torch.autograd.Function):
    """y = x * s with a Python float s (no gradient) and an integer output beside."""

    @staticmethod
    def forward(ctx, x, s):
        ctx.s = s
        return x * s, torch.argmax(x, dim=-1)

    @staticmethod
    def backward(ctx, grad, _grad_index):
        return grad * ctx.s, None
