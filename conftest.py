"""Project-wide pytest configuration: hypothesis settings profiles.

Profiles (select with ``HYPOTHESIS_PROFILE=<name>``):

``dev``
    the default on a developer machine: a modest number of random examples.
``ci``
    derandomized and without deadline, so CI runs are reproducible; used automatically
    when the ``CI`` environment variable is set.
``soak``
    at least 2,000 examples per property, run on demand.
"""

from __future__ import annotations

import importlib.util
import os

# the front ends import their framework (and raise MissingDependencyError without it): their
# doctests are collected only where it is installed (tests/frontends tests the error itself)
collect_ignore = [
    path
    for path, module in (("gradcheck/torch.py", "torch"), ("gradcheck/jax.py", "jax"))
    if importlib.util.find_spec(module) is None
]

pytest_plugins = ["pytester"]

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis is an optional (test) dependency
    pass
else:
    _slow_ok = [HealthCheck.too_slow, HealthCheck.data_too_large]
    settings.register_profile("dev", max_examples=30, deadline=None)
    settings.register_profile(
        "ci",
        max_examples=30,
        derandomize=True,
        deadline=None,
        print_blob=True,
        suppress_health_check=_slow_ok,
    )
    settings.register_profile(
        "soak",
        max_examples=2000,
        deadline=None,
        print_blob=True,
        suppress_health_check=_slow_ok,
    )
    _default = "ci" if os.environ.get("CI") else "dev"
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", _default))
