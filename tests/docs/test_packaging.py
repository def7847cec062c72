"""Packaging: the licence file, and an editable install that type checkers can follow."""

from __future__ import annotations

import json
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_license_file_is_the_one_pyproject_names():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Permission is hereby granted, free of charge" in text


def test_dev_extras_pin_the_linters_ci_runs():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    ci = (ROOT / ".ci" / "run").read_text()
    for pin in ("ruff==", "mypy=="):
        (dev,) = [d for d in extras["dev"] if d.startswith(pin)]
        assert f'"{dev}"' in ci


def test_an_editable_install_is_a_path_entry_not_an_import_hook():
    # setuptools' import-hook finder (__editable___*_finder.py) is invisible to mypy and
    # pyright: a user's project would get import-not-found
    # the installed distribution (the project folder's own gradcheck.egg-info has no
    # direct_url.json)
    installed = [
        d
        for d in metadata.distributions(name="gradcheck")
        if json.loads(d.read_text("direct_url.json") or "{}").get("dir_info", {}).get("editable")
    ]
    if not installed:
        pytest.skip("gradcheck is not installed in editable mode")
    dist = installed[0]
    files = [str(f) for f in dist.files or []]
    assert not [f for f in files if f.endswith("_finder.py")], files
    (pth,) = [f for f in files if f.endswith(".pth")]
    entry = Path(dist.locate_file(pth)).read_text().strip()
    assert Path(entry).resolve() == ROOT
