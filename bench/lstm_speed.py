"""Speed of lstm_ref's LSTM layer against PyTorch's nn.LSTM and against its GEMM floor.

Run: ``python bench/lstm_speed.py`` (needs torch; CPU, float64).

For each shape (N, T, D, H) it times one forward plus backward pass of
``lstm_forward``/``lstm_backward`` (with dx, dh0, dc0 and the weight gradients), of
``nn.LSTM`` with autograd (x, h0 and c0 requiring gradients, the same upstream dh), and of
the bare matrix products our implementation performs, with the same shapes in the same
loop structure: the input projection, T recurrent products forward, T backward, and the
three products for dx, [dWx; db] and dWh. The three are interleaved: each round runs every
one of them (in a rotating order) for one untimed and five timed calls, and the medians
over all rounds are reported, so slow drifts of the machine hit all three alike. Torch
runs with as many threads as numpy's BLAS. On a shared machine, run it when the cores
are otherwise idle: a multi-threaded BLAS that loses a core to another process waits for
it at every call.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import statistics
import time

import numpy as np
import torch

import lstm_ref as lr

SHAPES = [(32, 50, 128, 128), (4, 8, 8, 16)]
TARGETS = {(32, 50, 128, 128): 0.6, (4, 8, 8, 16): 0.25}  # ours / torch
FLOOR_TARGET = 1.3  # ours / GEMM floor


def blas_threads() -> int:
    """Threads of the OpenBLAS that numpy uses (read from the loaded library)."""
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    for path in sorted(paths):
        lib = ctypes.CDLL(path)
        for symbol in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                       "openblas_get_num_threads"):  # fmt: skip
            if hasattr(lib, symbol):
                return int(getattr(lib, symbol)())
    return int(os.environ.get("OPENBLAS_NUM_THREADS", os.cpu_count() or 1))


def make_case(N, T, D, H, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x": rng.normal(size=(N, T, D)),
        "h0": rng.normal(size=(N, H)) * 0.5,
        "c0": rng.normal(size=(N, H)) * 0.5,
        "Wx": rng.normal(size=(D, 4 * H)) / np.sqrt(D),
        "Wh": rng.normal(size=(H, 4 * H)) / np.sqrt(H),
        "b": rng.normal(size=4 * H) * 0.5,
        "dh": rng.normal(size=(N, T, H)),
    }


def ours_runner(case):
    x, h0, c0, Wx, Wh, b, dh = (case[k] for k in ("x", "h0", "c0", "Wx", "Wh", "b", "dh"))

    def run():
        _, cache = lr.lstm_forward(x, h0, Wx, Wh, b, c0)
        return lr.lstm_backward(dh, cache)

    return run


def torch_runner(case):
    N, T, D = case["x"].shape
    H = case["h0"].shape[1]
    lstm = torch.nn.LSTM(D, H, batch_first=True, dtype=torch.float64)
    weights = lr.to_layout("torch", case["Wx"], case["Wh"], case["b"])
    with torch.no_grad():
        for name, value in weights.items():
            getattr(lstm, name + "_l0").copy_(torch.from_numpy(value))
    x = torch.tensor(case["x"], requires_grad=True)
    h0 = torch.tensor(case["h0"][None], requires_grad=True)
    c0 = torch.tensor(case["c0"][None], requires_grad=True)
    dh = torch.tensor(case["dh"])

    def run():
        for tensor in (x, h0, c0, *lstm.parameters()):
            tensor.grad = None
        out, _ = lstm(x, (h0, c0))
        out.backward(dh)
        return x.grad, h0.grad, lstm.weight_ih_l0.grad, lstm.weight_hh_l0.grad

    return run


def floor_runner(case):
    """The matrix products of lstm_forward + lstm_backward, alone, same shapes and loops.

    lstm_ref runs the recurrence feature-major: the input projection [Wx; b]^T [x, 1]^T is
    (4H, D+1) @ (D+1, T*N); each step forward is Wh^T (4H, H) @ h^T (H, N); each step
    backward Wh (H, 4H) @ da (4H, N); then dx = dA^T Wx^T, [dWx; db] = [x, 1]^T dA^T and
    dWh = h_prev dA^T over all T*N columns.
    """
    N, T, D = case["x"].shape
    H = case["h0"].shape[1]
    rng = np.random.default_rng(1)
    x_aug = rng.normal(size=(T * N, D + 1))
    W_aug = rng.normal(size=(D + 1, 4 * H))
    WhT = np.ascontiguousarray(case["Wh"].T)
    Wh, Wx = case["Wh"], case["Wx"]
    h = rng.normal(size=(T + 1, H, N))
    h_prev = rng.normal(size=(H, T * N))
    dA = rng.normal(size=(4 * H, T * N))
    da = rng.normal(size=(4 * H, N))
    a = np.empty((4 * H, N))
    dh_next = np.empty((H, N))

    def run():
        np.matmul(W_aug.T, x_aug.T)
        for t in range(T):
            np.matmul(WhT, h[t], out=a)
        for _ in range(T):
            np.matmul(Wh, da, out=dh_next)
        np.matmul(dA.T, Wx.T)
        np.matmul(x_aug.T, dA.T)
        np.matmul(h_prev, dA.T)

    return run


def check_same_result(case, ours, theirs):
    dx, dh0, dWx, dWh, _, _ = ours()
    tdx, tdh0, tdWih, tdWhh = theirs()
    H = case["h0"].shape[1]
    perm = np.r_[0:H, H : 2 * H, 3 * H : 4 * H, 2 * H : 3 * H]  # i f g o <-> i f o g
    pairs = [
        (dx, tdx.numpy()),
        (dh0, tdh0.numpy()[0]),
        (dWx, tdWih.numpy()[perm].T),
        (dWh, tdWhh.numpy()[perm].T),
    ]
    for a, t in pairs:
        np.testing.assert_allclose(a, t, rtol=1e-10, atol=1e-10 * np.abs(t).max())


def measure(runners, rounds, batch=5):
    """Median time per call of each runner.

    Each round runs every runner in turn (rotating the order): one untimed call, then
    ``batch`` timed calls. The untimed call absorbs the switch between libraries: BLAS and
    OpenMP worker threads keep spinning for a while after their last call, and would
    otherwise steal the cores of whichever library runs next.
    """
    times = {name: [] for name in runners}
    names = list(runners)
    gc.disable()
    try:
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                run = runners[name]
                run()
                for _ in range(batch):
                    start = time.perf_counter()
                    run()
                    times[name].append(time.perf_counter() - start)
    finally:
        gc.enable()
    return {name: statistics.median(values) for name, values in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=6.0, help="seconds per shape (about)")
    args = parser.parse_args()
    threads = blas_threads()
    torch.set_num_threads(threads)
    print(f"numpy {np.__version__} (OpenBLAS threads: {threads}), torch {torch.__version__} "
          f"(threads: {torch.get_num_threads()}), float64, CPU")  # fmt: skip
    print(f"{'N, T, D, H':>18} {'ours ms':>9} {'torch ms':>9} {'GEMM ms':>9} "
          f"{'ours/torch':>11} {'ours/GEMM':>10}  repeats")  # fmt: skip
    verdicts = []
    for shape in SHAPES:
        case = make_case(*shape)
        runners = {
            "ours": ours_runner(case),
            "torch": torch_runner(case),
            "gemm": floor_runner(case),
        }
        check_same_result(case, runners["ours"], runners["torch"])
        once = measure(runners, rounds=1, batch=2)
        rounds = max(6, int(args.budget / (6 * sum(once.values()))))
        med = measure(runners, rounds)
        repeats = 5 * rounds
        ratio, floor = med["ours"] / med["torch"], med["ours"] / med["gemm"]
        print(f"{str(shape):>18} {med['ours'] * 1e3:9.3f} {med['torch'] * 1e3:9.3f} "
              f"{med['gemm'] * 1e3:9.3f} {ratio:11.2f} {floor:10.2f}  {repeats}")  # fmt: skip
        verdicts.append(
            f"{shape}: ours/torch {ratio:.2f} vs target {TARGETS[shape]} "
            f"({'met' if ratio <= TARGETS[shape] else 'missed'}), ours/GEMM {floor:.2f} vs "
            f"target {FLOOR_TARGET} ({'met' if floor < FLOOR_TARGET else 'missed'})"
        )
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
