"""The command's faults from issue 14: lone surrogates, lines over 1 MiB, JSON to a terminal,
and a followed file truncated and rewritten past the old offset before the next look."""

from __future__ import annotations

import os
import pathlib
import pty
import select
import subprocess
import sys
import time

import orjson
import pytest

from tracelog._cli.reader import Skipped, follow

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
BIG = 2 * 1024 * 1024


def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "tracelog", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )


def on_a_terminal(*args: str) -> tuple[bytes, bytes]:
    """stdout and stderr of the command with its stdout on a real pseudo-terminal."""
    master, slave = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "tracelog", *args],
            stdout=slave,
            stderr=subprocess.PIPE,
            env={**os.environ, "NO_COLOR": "1"},
        )
        os.close(slave)
        out = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the other side closed
                    break
                if not data:
                    break
                out += data
            elif process.poll() is not None:
                break
        assert process.stderr is not None
        err = process.stderr.read()
        process.wait(timeout=10)
        process.stderr.close()
    finally:
        os.close(master)
    return out.replace(b"\r\n", b"\n"), err


def tracelog_line(**fields: object) -> bytes:
    base = {
        "timestamp": "2026-11-25T07:40:34.123456Z",
        "level": "info",
        "logger": "shop.files",
        "message": "stored",
        "trace_id": TRACE,
        "span_id": "00f067aa0ba902b7",
        "service": "shop",
    }
    return orjson.dumps({**base, **fields})


class TestLoneSurrogate:
    LINE = (
        b'{"timestamp":"2026-11-25T07:40:34.123456Z","level":"error","logger":"shop.files",'
        b'"message":"cannot open \\ud800.txt","trace_id":"' + TRACE.encode() + b'",'
        b'"span_id":"00f067aa0ba902b7","service":"shop","path":"/tmp/\\udcff"}\n'
    )

    def test_show_reads_it_and_shows_the_escape(self, tmp_path: pathlib.Path) -> None:
        log = tmp_path / "a.log"
        log.write_bytes(self.LINE)
        result = run("show", TRACE[:8], str(log))
        assert 0 == result.returncode, result.stderr
        assert b"Traceback" not in result.stderr
        assert b"cannot open \\ud800.txt" in result.stdout
        assert b'path="/tmp/\\\\udcff"' in result.stdout  # quoted, as any value with a \\ is

    @pytest.mark.parametrize("command", [["view"], ["view", "--trace", TRACE[:6]], ["traces"]])
    def test_view_and_traces_do_not_call_it_not_json(
        self, tmp_path: pathlib.Path, command: list[str]
    ) -> None:
        log = tmp_path / "a.log"
        log.write_bytes(self.LINE)
        result = run(*command, str(log))
        assert 0 == result.returncode
        assert b"not JSON" not in result.stderr
        assert b"cannot open \\ud800.txt" in result.stdout

    def test_the_html_page_shows_the_escape(self, tmp_path: pathlib.Path) -> None:
        log = tmp_path / "a.log"
        log.write_bytes(self.LINE)
        page = tmp_path / "t.html"
        assert 0 == run("show", TRACE, str(log), "--html", str(page)).returncode
        assert "cannot open \\ud800.txt" in page.read_text()


class TestLongLines:
    def long_log(
        self, tmp_path: pathlib.Path, schema: str = "default"
    ) -> tuple[pathlib.Path, bytes]:
        payload = "x" * BIG
        if schema == "otel":  # the trace id comes after the big body
            big = orjson.dumps(
                {
                    "timestamp": "2026-11-25T07:40:34.200000Z",
                    "severity_text": "ERROR",
                    "body": f"upload failed {payload}",
                    "trace_id": TRACE,
                    "span_id": "00f067aa0ba902b7",
                    "instrumentation_scope": {"name": "shop.upload"},
                    "resource": {"service.name": "shop"},
                }
            )
        else:
            big = tracelog_line(
                timestamp="2026-11-25T07:40:34.200000Z",
                level="error",
                logger="shop.upload",
                message=f"upload failed {payload}",
            )
        log = tmp_path / "a.log"
        log.write_bytes(
            tracelog_line() + b"\n" + big + b"\n" + tracelog_line(message="end") + b"\n"
        )
        return log, big

    @pytest.mark.parametrize("schema", ["default", "otel"])
    def test_show_keeps_the_biggest_line_cut(self, tmp_path: pathlib.Path, schema: str) -> None:
        log, big = self.long_log(tmp_path, schema)
        result = run("show", TRACE[:8], str(log))
        assert 0 == result.returncode, result.stderr
        out = result.stdout.decode()
        assert "3 lines" in out
        row = next(r for r in out.splitlines() if "ERROR" in r and "upload failed" in r)
        assert "shop.upload" in row
        # the first 300 characters of the message are shown
        assert row.endswith(f"… [line of {len(big):,} bytes: {len(big) - 300:,} bytes not shown]")
        assert len(row) < 1000
        assert "failed: in shop shop.upload: upload failed" in out

    def test_traces_counts_it(self, tmp_path: pathlib.Path) -> None:
        log, _ = self.long_log(tmp_path)
        (row,) = run("traces", "--json", str(log)).stdout.splitlines()
        assert (3, "error") == (orjson.loads(row)["lines"], orjson.loads(row)["level"])

    @pytest.mark.parametrize("filters", [[], ["--trace", TRACE[:8]], ["--level", "error"]])
    def test_json_passes_the_whole_line(self, tmp_path: pathlib.Path, filters: list[str]) -> None:
        log, big = self.long_log(tmp_path)
        result = run("view", "--json", *filters, str(log))
        assert 0 == result.returncode
        assert big in result.stdout.splitlines()
        assert b"passed through whole" in result.stderr

    def test_json_passes_a_line_longer_than_the_search_buffer(self, tmp_path: pathlib.Path) -> None:
        big = tracelog_line(message="y" * (9 * 1024 * 1024))
        log = tmp_path / "a.log"
        log.write_bytes(b"\n".join([tracelog_line(), big, tracelog_line()]) + b"\n")
        result = run("view", "--json", "--trace", TRACE, str(log))
        assert [tracelog_line(), big, tracelog_line()] == result.stdout.splitlines()
        piped = run("view", "--json", "--level", "info", "-", stdin=log.read_bytes())
        assert [tracelog_line(), big, tracelog_line()] == piped.stdout.splitlines()

    def test_memory_stays_bounded(self, tmp_path: pathlib.Path) -> None:
        big = tracelog_line(message="z" * (96 * 1024 * 1024))
        log = tmp_path / "a.log"
        log.write_bytes(big + b"\n")
        del big
        # The peak resident size of the command's own process (VmHWM), read by itself.
        script = (
            "import contextlib, os, sys\n"
            "from tracelog.cli import main\n"
            "with open(os.devnull, 'w') as sink, contextlib.redirect_stdout(sink):\n"
            "    sys.stdout = sink\n"
            "    main(sys.argv[1:])\n"
            "status = open('/proc/self/status').read()\n"
            "print(status.split('VmHWM:')[1].split()[0], file=sys.__stderr__)\n"
        )
        for command in (["view"], ["show", TRACE[:8]], ["traces"], ["view", "--json"]):
            done = subprocess.run(
                [sys.executable, "-c", script, *command, str(log)],
                capture_output=True,
                text=True,
                timeout=120,
            )
            peak_kib = int(done.stderr.strip().splitlines()[-1])
            assert peak_kib < 64 * 1024, f"{command}: {peak_kib / 1024:.0f} MiB for a 96 MiB line"


class TestJsonToATerminal:
    HOSTILE = "a\u009b31mb\u0085c\x7fd\u202ee\u2066f"

    def test_view_json_escapes_on_a_terminal(self, tmp_path: pathlib.Path) -> None:
        log = tmp_path / "a.log"
        log.write_bytes(tracelog_line(message=self.HOSTILE) + b"\n")
        out, _ = on_a_terminal("view", "--json", str(log))
        (line,) = out.splitlines()
        for char in "\u009b\u0085\x7f\u202e\u2066":
            assert char.encode() not in line
        assert b"a\\u009b31mb\\u0085c\\u007fd\\u202ee\\u2066f" in line
        assert self.HOSTILE == orjson.loads(line)["message"]  # the same JSON, escaped

    def test_a_long_line_to_a_terminal_is_whole_and_escaped(self, tmp_path: pathlib.Path) -> None:
        message = ("w" * 1000 + self.HOSTILE) * 2000  # 2 MB, a hostile run every 1000 bytes
        log = tmp_path / "a.log"
        log.write_bytes(tracelog_line(message=message) + b"\n")
        out, err = on_a_terminal("view", "--json", str(log))
        (line,) = out.splitlines()
        assert message == orjson.loads(line)["message"]
        assert "\u202e".encode() not in line and b"\\u202e" in line
        assert b"passed through whole" in err

    def test_view_json_into_a_pipe_passes_bytes_unchanged(self, tmp_path: pathlib.Path) -> None:
        raw = tracelog_line(message=self.HOSTILE) + b"\n"
        bad = tracelog_line(message="caf\u00e9").replace(b"caf\xc3\xa9", b"caf\xe9") + b"\n"
        log = tmp_path / "a.log"
        log.write_bytes(raw + bad)
        result = run("view", "--json", str(log))
        assert raw + bad == result.stdout
        assert b"1 line not valid UTF-8 (passed through unchanged)" in result.stderr

    def test_bad_bytes_replaced_is_true_on_a_terminal(self, tmp_path: pathlib.Path) -> None:
        bad = tracelog_line(message="caf\u00e9").replace(b"caf\xc3\xa9", b"caf\xe9") + b"\n"
        log = tmp_path / "a.log"
        log.write_bytes(bad)
        out, err = on_a_terminal("view", "--json", str(log))
        assert b"caf\xef\xbf\xbd" in out and b"\xe9" not in out
        assert b"1 line not valid UTF-8 (bad bytes replaced)" in err

    def test_traces_json_escapes_on_a_terminal(self, tmp_path: pathlib.Path) -> None:
        log = tmp_path / "a.log"
        log.write_bytes(tracelog_line(message=self.HOSTILE) + b"\n")
        out, _ = on_a_terminal("traces", "--json", str(log))
        (line,) = out.splitlines()
        assert b"\xe2\x80\xae" not in line and b"\xc2\x9b" not in line
        assert self.HOSTILE == orjson.loads(line)["message"]
        piped = run("traces", "--json", str(log)).stdout
        assert "\u202e".encode() in piped  # into a pipe, orjson's bytes as they are


class TestFollowTruncation:
    def test_a_file_rewritten_past_the_old_offset_is_read_from_its_start(
        self, tmp_path: pathlib.Path
    ) -> None:
        log = tmp_path / "a.log"
        first = [tracelog_line(message=f"old {n}") for n in range(3)]
        log.write_bytes(b"\n".join(first) + b"\n")
        skipped = Skipped()
        lines = follow([str(log)], skipped, poll=0.0)
        assert first == next(lines)
        # Truncated and written again, longer than before, all between two looks.
        second = [tracelog_line(message=f"new {n}", number=n) for n in range(6)]
        with open(log, "r+b") as handle:
            handle.truncate(0)
            handle.write(b"\n".join(second) + b"\n")
        got: list[bytes] = []
        for _ in range(5):
            got.extend(next(lines))
        assert second == got
        assert any("truncated" in note for note in skipped.notes)
