"""``tracelog view``: filters, --json pass-through, bad input, following, pipes and colours."""

from __future__ import annotations

import gzip
import os
import pathlib
import signal
import subprocess
import sys
import time

import orjson
import pytest

from tracelog.cli import main

DATA = pathlib.Path(__file__).parent / "data" / "cli"
DEMO = [str(DATA / "demo" / "shop.log"), str(DATA / "demo" / "payments.log")]
FAILED_TRACE = "edae6f89"


def line(**fields: object) -> bytes:
    base: dict[str, object] = {
        "timestamp": "2026-11-25T07:40:34.123456Z",
        "level": "info",
        "logger": "shop.orders",
        "message": "order placed",
    }
    return orjson.dumps({**base, **fields})


def cli(capsysbinary: pytest.CaptureFixture[bytes], *args: str) -> tuple[int, bytes, str]:
    status = main(list(args))
    out, err = capsysbinary.readouterr()
    return status, out, err.decode()


def command(
    *args: str, env: dict[str, str] | None = None, input: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    if env is None:
        env = {k: v for k, v in os.environ.items() if k != "FORCE_COLOR"}
        env["NO_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "tracelog", *args],
        capture_output=True,
        timeout=60,
        env=env,
        input=input,
    )


@pytest.fixture
def failed_trace() -> str:
    for raw in (DATA / "demo" / "payments.log").read_bytes().splitlines():
        obj = orjson.loads(raw)
        if obj["level"] == "error":
            return str(obj["trace_id"])
    raise AssertionError("the demo sample has no failed trace")


class TestFilters:
    def test_trace_prefix_json_passes_lines_unchanged(
        self, capsysbinary: pytest.CaptureFixture[bytes], failed_trace: str
    ) -> None:
        status, out, _ = cli(capsysbinary, "view", "--json", "--trace", failed_trace[:8], *DEMO)
        expected = [
            raw
            for path in DEMO
            for raw in pathlib.Path(path).read_bytes().splitlines()
            if orjson.loads(raw).get("trace_id") == failed_trace
        ]
        assert 0 == status
        assert expected == out.splitlines()
        assert 12 == len(expected)

    def test_trace_in_the_message_is_not_a_match(
        self, tmp_path: pathlib.Path, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        log = tmp_path / "a.log"
        log.write_bytes(
            line(trace_id="aa" * 16, message="retry of trace " + "bb" * 16)
            + b"\n"
            + line(trace_id="bb" * 16)
            + b"\n"
        )
        _, out, _ = cli(capsysbinary, "view", "--json", "--trace", "bbbb", str(log))
        assert [line(trace_id="bb" * 16)] == out.splitlines()

    @pytest.mark.parametrize(
        ("args", "count"),
        [
            (["--level", "warning"], 2),
            (["--level", "ERROR"], 2),
            (["--service", "payments"], 49),
            (["--service", "payments", "--service", "shop"], 105),
            (["--logger", "shop"], 48),
            (["--logger", "shop.inventory"], 16),
            (["--logger", "shop.inv"], 0),
            (["--grep", "declined"], 1),
            (["--where", "order_id=1005"], 6),
            (["--where", "status=402"], 3),
            (["--where", "status!=200", "--logger", "tracelog.access"], 2),
            (["--where", "service=shop"], 56),
            (["--since", "2099-01-01"], 0),
            (["--until", "2000-01-01"], 0),
            (["--since", "2000-01-01T00:00", "--until", "2099-01-01T00:00:00Z"], 105),
        ],
    )
    def test_each_filter(
        self, capsysbinary: pytest.CaptureFixture[bytes], args: list[str], count: int
    ) -> None:
        status, out, err = cli(capsysbinary, "view", "--json", *args, *DEMO)
        assert 0 == status, err
        assert count == len(out.splitlines())

    def test_relative_since(
        self, tmp_path: pathlib.Path, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        log = tmp_path / "a.log"
        log.write_bytes(line(message="old") + b"\n" + line(timestamp=now, message="new") + b"\n")
        _, out, _ = cli(capsysbinary, "view", "--since", "10m", str(log))
        assert b"new" in out
        assert b"old" not in out

    def test_bad_filter_value_is_a_usage_error(
        self, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        with pytest.raises(SystemExit) as exit_info:
            main(["view", "--level", "loud"])
        assert 2 == exit_info.value.code
        assert b"'loud' is not one of" in capsysbinary.readouterr().err


class TestPretty:
    def test_rows_are_aligned_and_readable(
        self, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        _, out, _ = cli(capsysbinary, "view", "--grep", "charge failed", *DEMO)
        text = out.decode()
        assert "ERROR payments" in text
        assert "charge failed order_id=1005" in text
        assert "CardDeclined: card ending 4242 declined for order 1005" in text

    def test_long_level_names_are_shortened_not_cut(
        self, tmp_path: pathlib.Path, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        log = tmp_path / "a.log"
        log.write_bytes(line(level="warning") + b"\n" + line(level="critical") + b"\n")
        _, out, _ = cli(capsysbinary, "view", str(log))
        assert b" WARN " in out and b" CRIT " in out
        assert b"WARNI" not in out and b"CRITI" not in out

    def test_a_trace_id_with_escape_sequences_is_shown_not_executed(
        self, tmp_path: pathlib.Path, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        log = tmp_path / "a.log"
        log.write_bytes(
            line(trace_id="\x1bc\x1b[2J")
            + b"\n"
            + line(trace_id="e0e5\x1b]0;owned\x07")
            + b"\n"
            + line(trace_id="e0e5aaaa")
            + b"\n"
        )
        _, out, _ = cli(capsysbinary, "view", str(log))
        assert b"\x1b" not in out
        status, out, err = cli(capsysbinary, "show", "e0e5", str(log))
        assert 1 == status and "matches 2 traces" in err
        assert "\x1b" not in err and "\x07" not in err

    @pytest.mark.parametrize("stamp", ["1e308", "1" + "0" * 400, "-5"])
    def test_a_time_out_of_range_is_an_unknown_time(
        self, stamp: str, tmp_path: pathlib.Path, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        log = tmp_path / "a.log"
        trace = "e0e581a73dddd1fb14f70404a3149037"
        log.write_bytes(
            b'{"timestamp":%s,"level":"info","message":"x","trace_id":"%s"}\n'
            % (stamp.encode(), trace.encode())
        )
        for args in (["view"], ["traces"], ["show", trace[:8]]):
            status, _, err = cli(capsysbinary, *args, str(log))
            assert "Traceback" not in err
            assert args == ["show", trace[:8]] or 0 == status, err
        assert b"x" in cli(capsysbinary, "view", str(log))[1]

    def test_escape_sequences_are_shown_not_executed(
        self, tmp_path: pathlib.Path, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        log = tmp_path / "a.log"
        evil = "\x1b[2J\x1b]0;pwned\x07\u202e"
        log.write_bytes(
            line(message=f"hi {evil}", user=evil) + b"\n" + f"plain text {evil}".encode() + b"\n"
        )
        _, out, _ = cli(capsysbinary, "view", str(log))
        assert b"\x1b" not in out
        assert b"\x07" not in out
        assert "\u202e".encode() not in out
        assert rb"hi \x1b[2J\x1b]0;pwned\x07\u202e" in out
        assert rb"plain text \x1b[2J" in out

    def test_colour_follows_no_color_force_color_and_tty(self) -> None:
        args = ["view", DEMO[0], "--level", "error"]
        plain = command(*args)
        assert b"\x1b[" not in plain.stdout
        forced = subprocess.run(
            [sys.executable, "-m", "tracelog", *args],
            capture_output=True,
            timeout=60,
            env={**{k: v for k, v in os.environ.items() if k != "NO_COLOR"}, "FORCE_COLOR": "1"},
        )
        assert b"\x1b[31mERROR" in forced.stdout
        both = command(*args, env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "1"})
        assert b"\x1b[" not in both.stdout

    def test_colour_on_a_terminal(self) -> None:
        pty = pytest.importorskip("pty")
        env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
        leader, follower = pty.openpty()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tracelog", "view", DEMO[0], "--level", "error"],
                stdout=follower,
                stderr=subprocess.DEVNULL,
                env=env,
            )
            os.close(follower)
            proc.wait(timeout=60)
            out = b""
            while True:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
        finally:
            os.close(leader)
        assert b"\x1b[31mERROR" in out


class TestInputs:
    def test_stdin_when_no_files(self) -> None:
        data = pathlib.Path(DEMO[0]).read_bytes()
        result = command("view", "--json", "--level", "error", input=data)
        assert 1 == len(result.stdout.splitlines())
        assert b'"payment refused"' in result.stdout

    def test_gzip_is_read_transparently(
        self, tmp_path: pathlib.Path, capsysbinary: pytest.CaptureFixture[bytes], failed_trace: str
    ) -> None:
        packed = tmp_path / "shop.log.1"  # no .gz suffix: recognised by its magic bytes
        packed.write_bytes(gzip.compress(pathlib.Path(DEMO[0]).read_bytes()))
        _, out, _ = cli(capsysbinary, "view", "--json", "--level", "error", str(packed))
        assert 1 == len(out.splitlines())
        _, out, _ = cli(capsysbinary, "view", "--json", "--trace", failed_trace, str(packed))
        assert 6 == len(out.splitlines())  # the byte search reads gzip too

    def test_a_pipe_is_shown_as_it_comes(self) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tracelog", "view", "--json"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdin is not None
        assert proc.stdout is not None
        try:
            for n in range(3):
                proc.stdin.write(line(n=n) + b"\n")
                proc.stdin.flush()
                assert line(n=n) + b"\n" == proc.stdout.readline()  # before stdin ends
        finally:
            proc.stdin.close()
            proc.wait(timeout=30)
            proc.stdout.close()

    def test_gzip_on_stdin(self) -> None:
        data = gzip.compress(pathlib.Path(DEMO[0]).read_bytes())
        result = command("view", "--json", "--level", "error", input=data)
        assert 1 == len(result.stdout.splitlines())

    def test_a_byte_order_mark_is_not_part_of_the_first_line(
        self, tmp_path: pathlib.Path, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        trace = "e0e581a73dddd1fb14f70404a3149037"
        log = tmp_path / "bom.log"
        log.write_bytes(b"\xef\xbb\xbf" + (line(trace_id=trace) + b"\n") * 2)
        for args in (["view", "--json"], ["view", "--json", "--trace", trace[:8]]):
            status, out, err = cli(capsysbinary, *args, str(log))
            assert (0, 2) == (status, len(out.splitlines())), err
            assert not out.startswith(b"\xef")

    def test_a_truncated_gzip_gives_what_it_holds_to_every_command(
        self, tmp_path: pathlib.Path, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        trace = "e0e581a73dddd1fb14f70404a3149037"
        packed = gzip.compress((line(trace_id=trace) + b"\n") * 5000)
        cut = tmp_path / "cut.log.gz"
        cut.write_bytes(packed[: len(packed) // 2])
        _, whole, _ = cli(capsysbinary, "view", "--json", str(cut))
        _, found, err = cli(capsysbinary, "view", "--json", "--trace", trace[:8], str(cut))
        assert 0 < len(whole.splitlines()) == len(found.splitlines())
        assert "stopped reading" in err
        _, shown, err = cli(capsysbinary, "show", trace[:8], str(cut))
        assert b"lines" in shown and "stopped reading" in err

    def test_follow_with_a_dash_reads_stdin(self) -> None:
        result = command("view", "-f", "-", "--json", input=line(n=1) + b"\n")
        assert line(n=1) + b"\n" == result.stdout

    def test_missing_file_is_reported_and_others_still_read(
        self, tmp_path: pathlib.Path, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        status, out, err = cli(capsysbinary, "view", "--json", str(tmp_path / "nope.log"), DEMO[0])
        assert 1 == status
        assert "cannot read" in err
        assert "nope.log" in err
        assert 56 == len(out.splitlines())

    def test_python_dash_m(self) -> None:
        result = command("--help")
        assert 0 == result.returncode
        assert b"usage: tracelog" in result.stdout


class TestBadInput:
    def test_keeps_going_and_says_what_it_skipped(
        self, tmp_path: pathlib.Path, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        good = line(trace_id="ab" * 16)
        log = tmp_path / "bad.log"
        log.write_bytes(
            b"\n".join(
                [
                    good,
                    good[: len(good) // 2],  # truncated
                    bytes(b for b in range(256) if b != 10),  # binary garbage
                    b'{"message": "' + b"x" * (10 * 1024 * 1024) + b'"}',  # a 10 MB line
                    b'{"message": "caf\xe9 \xff", "trace_id": "' + b"ab" * 16 + b'"}',
                    b"[1, 2, 3]",
                    b"42",
                    good,
                ]
            )
        )
        status, out, err = cli(capsysbinary, "view", str(log))
        assert 0 == status
        rows = out.decode().splitlines()
        assert 8 == len(rows), rows  # 3 good lines, 4 shown as text, the 10 MB one cut
        assert all(len(row) < 2000 for row in rows)
        assert rows[3].endswith("… [line of 10,485,775 bytes: 10,485,475 bytes not shown]")
        assert "2 lines not JSON (shown as text)" in err
        assert "2 lines JSON but not an object (shown as text)" in err
        assert "1 line longer than 1 MiB (shown cut)" in err
        assert "1 line not valid UTF-8" in err

        _, out, err = cli(capsysbinary, "view", "--json", "--trace", "abab", str(log))
        assert 3 == len(out.splitlines())

        _, out, err = cli(capsysbinary, "view", "--json", str(log))
        rows = out.splitlines()  # objects only, passed through byte for byte
        assert 4 == len(rows)
        assert 10 * 1024 * 1024 + 15 == len(rows[1])  # the 10 MB line, whole
        assert "1 line longer than 1 MiB (passed through whole)" in err
        assert all(isinstance(orjson.loads(row.decode("utf-8", "replace")), dict) for row in rows)

    def test_broken_pipe_exits_quietly(self, tmp_path: pathlib.Path) -> None:
        big = tmp_path / "big.log"
        big.write_bytes(b"\n".join(line(trace_id=f"{i:032x}", n=i) for i in range(60_000)))
        env = {**os.environ, "NO_COLOR": "1"}
        for args in (["view", str(big)], ["view", "--json", str(big)]):
            proc = subprocess.Popen(
                [sys.executable, "-m", "tracelog", *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
            assert proc.stdout is not None
            assert proc.stderr is not None
            proc.stdout.readline()
            proc.stdout.close()  # like `| head -1`
            err = proc.stderr.read()
            proc.stderr.close()
            assert 0 == proc.wait(timeout=60)
            assert b"" == err


class TestFollow:
    def test_follows_appends_truncation_and_rotation(self, tmp_path: pathlib.Path) -> None:
        log = tmp_path / "app.log"
        log.write_bytes(line(message="first") + b"\n")
        env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "tracelog", "view", "-f", "--json", str(log)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert proc.stdout is not None
        assert proc.stderr is not None
        try:
            assert b"first" in proc.stdout.readline()
            with log.open("ab") as handle:
                handle.write(line(message="appended") + b"\n")
            assert b"appended" in proc.stdout.readline()

            log.write_bytes(line(message="after truncation") + b"\n")  # truncated in place
            assert b"after truncation" in proc.stdout.readline()

            log.rename(tmp_path / "app.log.1")  # rotated: a new file takes the name
            log.write_bytes(line(message="in the new file") + b"\n")
            assert b"in the new file" in proc.stdout.readline()
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=30)
        err = proc.stderr.read().decode()
        proc.stdout.close()
        proc.stderr.close()
        assert "was truncated; reading it from the start" in err
        assert "was replaced (rotated)" in err
        assert "Traceback" not in err
