"""tracelog.wrap() keeps the wrapped function's signature for type checkers."""

from __future__ import annotations

from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

SNIPPET = """
import tracelog

def price(item: str, quantity: int = 1) -> float:
    return 1.0 * quantity

wrapped = tracelog.wrap(price)
reveal_type(wrapped)
total: float = wrapped("book", quantity=2)
wrapped(3)
"""


class TestWrapSignature:
    def test_mypy_sees_the_parameters_and_the_return_type(self, tmp_path: Path) -> None:
        source = tmp_path / "uses_wrap.py"
        source.write_text(SNIPPET)
        out, _, _ = mypy_api.run(["--strict", "--cache-dir", str(tmp_path / "cache"), str(source)])
        assert "def (item: str, quantity: int =) -> float" in out
        assert 'Argument 1 has incompatible type "int"; expected "str"' in out
