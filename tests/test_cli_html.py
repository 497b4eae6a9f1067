"""``tracelog show --html``: one self-contained page, hostile data kept as text, in a real browser.

The browser tests start Debian's ``chromium`` headless (installed by .ci/run), read the DOM it
built (``--dump-dom``) and take a screenshot. With ``TRACELOG_REGENERATE_DOCS=1`` the screenshot
of the demo trace replaces docs/images/trace-page.png.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser

import orjson
import pytest

from tracelog._cli import html
from tracelog._cli.reader import Skipped
from tracelog._cli.records import parse, recognise
from tracelog._cli.show import build_tree, walk
from tracelog.cli import main

ROOT = pathlib.Path(__file__).parent.parent
DEMO = ROOT / "tests" / "data" / "cli" / "demo"
SCREENSHOT = ROOT / "docs" / "images" / "trace-page.png"
TRACE = "e0e581a73dddd1fb14f70404a3149037"
HOSTILE_TRACE = "6666" + "0" * 28
PWN = "document.body.setAttribute('data-pwned','1')"
HOSTILE = [
    f"<script>{PWN}</script>",
    f"</style><script>{PWN}</script><style>",
    f'<img src=x onerror="{PWN}">',
    "javascript:alert(document.domain)",
    "\u202eevil\u202c and \u2066isolated\u2069",
    "</details></section><h1>spoofed</h1>",
    "\x1b[2J\x9b31m",
]


def demo_records() -> list[object]:
    skipped = Skipped()
    lines = b"".join(p.read_bytes() for p in sorted(DEMO.glob("*.log"))).splitlines()
    records = [r for r in (parse(line, skipped) for line in lines) if r and r.trace_id == TRACE]
    records.sort(key=lambda r: r.time or 0.0)
    return records  # type: ignore[return-value]


def hostile_records() -> list[object]:
    out = []
    for n, text in enumerate(HOSTILE):
        event = {
            "timestamp": f"2026-11-25T08:00:00.{n:03d}000Z",
            "level": "error" if n == 0 else "info",
            "logger": text,
            "message": text,
            "trace_id": HOSTILE_TRACE,
            "span_id": f"{n + 1:016x}",
            "span_name": text,
            "service": text[:12],
            "url": "javascript:alert(1)",
            text: text,
        }
        if n:
            event["parent_span_id"] = f"{1:016x}"
        if n == 0:
            event["exception"] = {"type": "Boom", "message": text, "frames": []}
        out.append(recognise(event))
    return out


class TestPage:
    def test_is_one_self_contained_file(self) -> None:
        page = html.page(TRACE, demo_records())  # type: ignore[arg-type]
        for needle in ("http://", "https://", "<link", "<img", "src=", "href=", "@import"):
            assert needle not in page
        assert 1 == page.count("<script>") and 1 == page.count("<style>")
        assert "Content-Security-Policy" in page and "default-src 'none'" in page

    def test_hostile_values_stay_text(self) -> None:
        page = html.page(HOSTILE_TRACE, hostile_records())  # type: ignore[arg-type]
        assert 1 == page.count("<script") and 1 == page.count("</script")
        assert 1 == page.count("<style") and 1 == page.count("</style")
        assert "<img" not in page and "<h1>spoofed" not in page
        assert 2 == page.count("</section>")  # the page's own two sections
        assert len(HOSTILE) == page.count("</details>")  # one per line, none from the data
        for char in "\u202e\u202c\u2066\u2069\x1b\x9b":
            assert char not in page
        assert "\\u202eevil" in page
        assert "&lt;script&gt;" in page
        assert "href" not in page  # a javascript: URL is text, never a link

    def test_show_writes_the_page_and_says_where(
        self, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        target = tmp_path / "trace.html"
        files = [str(p) for p in sorted(DEMO.glob("*.log"))]
        assert 0 == main(["show", TRACE[:8], *files, "--html", str(target)])
        assert f"{target}\n" == capsys.readouterr().out
        assert "charge failed" in target.read_text()


class _Dom(HTMLParser):
    """The parts of a dumped DOM the tests look at."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts = 0
        self.body: dict[str, str | None] = {}
        self.span_labels: list[str] = []
        self.messages: list[str] = []
        self._into: list[str] | None = None
        self._text = ""
        self.elements: list[str] = []
        self.hidden_lines = 0
        self.lines = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(tag)
        classes = (dict(attrs).get("class") or "").split()
        if tag == "script":
            self.scripts += 1
        if tag == "body":
            self.body = dict(attrs)
        if tag == "details" and "line" in classes:
            self.lines += 1
            self.hidden_lines += "hidden" in dict(attrs)
        if "label" in classes:
            self._into, self._text = self.span_labels, ""
        if "msg" in classes:
            self._into, self._text = self.messages, ""

    def handle_data(self, data: str) -> None:
        if self._into is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if self._into is not None and tag == "span":
            self._into.append(self._text)
            self._into = None


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no chromium on PATH: install Debian's chromium (apt-get install chromium)")


def browse(page: pathlib.Path, screenshot: pathlib.Path, fragment: str = "") -> _Dom:
    browser = chromium()
    with tempfile.TemporaryDirectory() as profile:
        common = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={profile}",
            "--window-size=1280,1000",
            "--hide-scrollbars",
        ]
        dom = subprocess.run(
            [*common, "--dump-dom", page.as_uri() + fragment],
            capture_output=True,
            text=True,
            timeout=90,
        )
        shot = subprocess.run(
            [*common, f"--screenshot={screenshot}", page.as_uri()],
            capture_output=True,
            timeout=90,
        )
    assert 0 == dom.returncode, dom.stderr[-2000:]
    assert 0 == shot.returncode, shot.stderr[-2000:]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    parser = _Dom()
    parser.feed(dom.stdout)
    return parser


class TestInABrowser:
    def test_spans_and_lines_are_there_in_order(self, tmp_path: pathlib.Path) -> None:
        records = demo_records()
        page = tmp_path / "trace.html"
        html.write(str(page), TRACE, records)  # type: ignore[arg-type]
        shot = tmp_path / "trace.png"
        dom = browse(page, shot)
        assert "1" == dom.body.get("data-ready")  # the page's own script ran
        expected_spans = [span.label for _, span in walk(build_tree(records))]  # type: ignore[arg-type]
        assert expected_spans == dom.span_labels
        assert [r.message for r in records] == dom.messages  # type: ignore[attr-defined]
        assert "GET /checkout" == dom.span_labels[0]
        if os.environ.get("TRACELOG_REGENERATE_DOCS"):
            SCREENSHOT.parent.mkdir(exist_ok=True)
            shutil.copyfile(shot, SCREENSHOT)

    def test_the_filter_box_filters(self, tmp_path: pathlib.Path) -> None:
        records = demo_records()
        page = tmp_path / "trace.html"
        html.write(str(page), TRACE, records)  # type: ignore[arg-type]
        dom = browse(page, tmp_path / "filtered.png", "#filter=payments.fraud")
        assert (12, 10) == (dom.lines, dom.hidden_lines)  # the two payments.fraud lines stay

    def test_no_script_from_the_data_runs(self, tmp_path: pathlib.Path) -> None:
        records = hostile_records()
        page = tmp_path / "hostile.html"
        html.write(str(page), HOSTILE_TRACE, records)  # type: ignore[arg-type]
        dom = browse(page, tmp_path / "hostile.png")
        assert "1" == dom.body.get("data-ready")
        assert "data-pwned" not in dom.body
        assert 1 == dom.scripts
        assert "img" not in dom.elements
        assert dom.elements.count("h1") == 1  # the page's own title only
        shown = [orjson.dumps(m).decode() for m in dom.messages]
        assert any("\\\\u202eevil" in m for m in shown)
        assert any("<script>" in m for m in dom.messages)  # shown as text

    def test_the_docs_screenshot_exists(self) -> None:
        assert SCREENSHOT.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_html_writes_the_page_and_prints_its_path(tmp_path: pathlib.Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tracelog", "demo", "--html", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert 0 == result.returncode, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("the failing trace as a page: ")
    page = pathlib.Path(last.split(": ", 1)[1])
    assert page.parent == tmp_path
    assert "FAILED" in page.read_text() and "CardDeclined" in page.read_text()
