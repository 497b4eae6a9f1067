"""docs/cli.md shows real output: every ```console block is run again here and compared.

The commands run in tests/data/cli/demo (the logs of one ``tracelog demo`` run) with NO_COLOR.
After a deliberate change to the output, rewrite the blocks with:

    TRACELOG_REGENERATE_DOCS=1 pytest tests/test_cli_docs.py
"""

from __future__ import annotations

import glob
import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parent.parent
DOC = ROOT / "docs" / "cli.md"
SAMPLE = ROOT / "tests" / "data" / "cli" / "demo"
BLOCK = re.compile(r"^```console\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def run(command: str) -> str:
    """The output of one ``$ tracelog ...`` line, as a terminal without colour shows it."""
    words = shlex.split(command)
    assert "tracelog" == words[0], command
    args: list[str] = []
    for word in words[1:]:
        args.extend(sorted(glob.glob(word, root_dir=SAMPLE)) if "*" in word else [word])
    env = {k: v for k, v in os.environ.items() if k != "FORCE_COLOR"}
    env["NO_COLOR"] = "1"
    result = subprocess.run(
        [sys.executable, "-m", "tracelog", *args],
        cwd=SAMPLE,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    return "\n".join(line.rstrip() for line in (result.stdout + result.stderr).splitlines())


def rendered(block: str) -> str:
    """``block`` with the output under each ``$`` line replaced by a fresh run."""
    out: list[str] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            out.append(line)
            output = run(line[2:])
            if output:
                out.append(output)
    return "\n".join(out) + "\n"


def blocks() -> list[str]:
    return BLOCK.findall(DOC.read_text())


def test_the_guide_has_console_blocks() -> None:
    assert len(blocks()) >= 5


@pytest.mark.parametrize("index", range(len(blocks())))
def test_console_block_is_current(index: int) -> None:
    block = blocks()[index]
    fresh = rendered(block)
    if os.environ.get("TRACELOG_REGENERATE_DOCS"):
        text = DOC.read_text()
        DOC.write_text(text.replace(f"```console\n{block}```", f"```console\n{fresh}```", 1))
        return
    expected = "\n".join(line.rstrip() for line in block.splitlines()) + "\n"
    assert expected == fresh
