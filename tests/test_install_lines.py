"""Every install line in the docs names the distribution (`tracelog` on PyPI is another project)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
DISTRIBUTION = "tracelog-json"


def test_the_distribution_name() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert [DISTRIBUTION] == re.findall(r'^name = "([^"]+)"', text, re.M)


def test_every_install_line_names_it() -> None:
    pages = [ROOT / "README.md", *ROOT.glob("docs/**/*.md"), *ROOT.glob("examples/**/*")]
    wrong = []
    for page in pages:
        if not page.is_file():
            continue
        for number, line in enumerate(page.read_text(errors="replace").splitlines(), 1):
            for target in re.findall(r"pip install\s+(?:-e\s+)?(\S+)", line):
                name = target.strip("'\"")
                if name.startswith((".", "/")) or name.startswith(DISTRIBUTION):
                    continue  # a checkout, or the distribution
                if name.startswith("tracelog") and "unrelated project" not in line:
                    wrong.append(f"{page.relative_to(ROOT)}:{number}: {line.strip()}")
    assert [] == wrong
