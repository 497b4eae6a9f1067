"""Configure tracelog to write into memory and read back the lines it wrote."""

from __future__ import annotations

import io
from typing import Any

import orjson

import tracelog


class Lines:
    """The lines tracelog writes after ``Lines(**configure_options)``, parsed or raw."""

    def __init__(self, **options: Any) -> None:
        self.out = io.BytesIO()
        tracelog.configure(stream=self.out, **options)

    def raw(self) -> list[bytes]:
        """Every line written, each with its newline."""
        return self.out.getvalue().splitlines(keepends=True)

    def __call__(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.raw()]

    def one(self) -> dict[str, Any]:
        (line,) = self()
        return line
