"""Cases the soak run (``HYPOTHESIS_PROFILE=soak``) found, pinned as ``@example``s of their
properties so that every CI run checks them (docs/properties.md, "What the soak run found").

Each is a case as the properties take it: a :class:`lstm_ref.strategies.Problem` and the
cotangents hypothesis drew (float32 values, written out in full).
"""

from __future__ import annotations

import numpy as np

from lstm_ref.strategies import Config, Problem

_F32 = np.float32

#: test_step_gradients[float32]: Wx[0, 0] (gradient 6.8e-7, x of -1.5e-5) was left unverified:
#: its first triple looked limited by truncation (the noise along it exceeds the measured
#: level), so its step went down, where the threshold only rose
STEP_2850 = (
    Problem.build(Config(N=1, T=1, D=1, H=1, L=1, C=3, dtype="float32"), 2850),
    (np.array([[-0.67326552]], _F32), np.array([[0.90076491]], _F32)),
)

#: test_sequence_gradients[float32]: h0[1, 4] was declared a mismatch (relative error 3.3e-4
#: over a threshold of 2.6e-6) on one triple of large steps whose two extrapolations agreed by
#: chance, "supported" by a stage-1 estimate on the other side of the analytic value
SEQUENCE_74646 = (
    Problem.build(Config(N=3, T=4, D=1, H=6, L=1, C=4, dtype="float32"), 74646),
    (
        np.array(
            [
                [
                    [0.3066869, -0.56433564, -0.6836649, 0.5345087, 0.84924287, -0.87499535],
                    [-0.8578186, 0.7935462, -0.7996422, -0.5251341, 0.62901294, 0.82258254],
                    [-0.23891862, -0.75640166, -0.5392348, 0.9686858, 0.9223147, 0.36687106],
                    [0.7880807, -0.6847517, -0.8160786, 0.6084174, -0.17092548, -0.9288042],
                ],
                [
                    [0.39704812, -0.762684, -0.67433417, 0.76876, -0.85393286, -0.8947302],
                    [-0.5427525, 0.9185549, -0.42067835, 0.77390873, -0.6208199, -0.40321562],
                    [0.14254794, 0.93781185, -0.32578468, -0.7811746, -0.8878526, -0.61002547],
                    [-0.37576163, -0.1393208, -0.18851587, -0.40983263, -0.40499806, 0.62637645],
                ],
                [
                    [-0.782916, 0.6070199, -0.4968847, -0.3805714, -0.9805354, -0.18958248],
                    [-0.120014764, 0.76308095, 0.10711795, 0.17603305, 0.92091393, -0.67708147],
                    [-0.60463125, -0.8740241, 0.31871372, -0.9012522, 0.69181305, -0.57127124],
                    [-0.35869995, 0.59943634, 0.81874484, -0.77614444, 0.8343934, 0.50390434],
                ],
            ],
            _F32,
        ),
        np.array(
            [
                [0.42614326, 0.60390085, 0.8531761, -0.17986879, 0.6321402, 0.7307215],
                [-0.65353394, -0.26068595, 0.69358647, -0.83856213, 0.5330147, 0.47588474],
                [-0.7754753, -0.4538086, 0.45365134, 0.71266085, 0.7093033, -0.9677392],
            ],
            _F32,
        ),
    ),
)

#: test_sequence_gradients[float32]: Wx[0, 11] was over the threshold of one triple by 3%,
#: "supported" by a stage-1 estimate on the other side of the analytic value (a false mismatch
#: before the support rule; then unverified, until a lone residual widened the threshold)
SEQUENCE_70462 = (
    Problem.build(Config(N=1, T=7, D=2, H=3, L=1, C=3, dtype="float32"), 70462),
    (
        np.array(
            [
                [
                    [-0.56063946, -0.95541733, 0.22974365],
                    [0.9537845, 0.38064831, 0.4809938],
                    [-0.84493233, -0.46827922, 0.59463432],
                    [0.1248032, -0.7781618, 0.58432898],
                    [0.39675854, 0.80958583, 0.37287535],
                    [-0.5081481, 0.22063753, -0.46280169],
                    [-0.28310972, 0.33608201, 0.77532821],
                ]
            ],
            _F32,
        ),
        np.array([[-0.39868515, 0.65070638, -0.55686939]], _F32),
    ),
)
