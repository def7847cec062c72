"""Loads the mutation self-test's report (see prop_report.py)."""

from __future__ import annotations

from prop_report import pytest_terminal_summary

__all__ = ["pytest_terminal_summary"]
