"""Runs every Python code block in README.md and docs/ as a test (sybil)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser

import tracelog


@pytest.fixture
def _fresh_tracelog() -> Iterator[None]:
    tracelog.reset()
    yield
    tracelog.reset()


def _setup(namespace: dict[str, Any]) -> None:
    tracelog.reset()


def _teardown(namespace: dict[str, Any]) -> None:
    tracelog.reset()


pytest_collect_file = Sybil(
    parsers=[PythonCodeBlockParser(), SkipParser()],
    patterns=["README.md", "docs/*.md", "docs/frameworks/*.md"],
    setup=_setup,
    teardown=_teardown,
    fixtures=["_fresh_tracelog"],
).pytest()
