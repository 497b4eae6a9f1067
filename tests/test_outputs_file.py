from __future__ import annotations

import collections
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson
import pytest

import tracelog
from tracelog import _faults
from tracelog.outputs import File

# A worker process: appends `count` lines (some longer than a pipe's atomic size) to one file.
WORKER = textwrap.dedent(
    """
    import sys, tracelog
    from tracelog.outputs import File
    path, name, count, nonblocking, max_bytes = sys.argv[1:6]
    tracelog.configure(
        outputs=[File(path, max_bytes=int(max_bytes) or None, backups=None)],
        nonblocking=nonblocking == "1",
    )
    log = tracelog.get_logger(name)
    for i in range(int(count)):
        log.info("line", worker=name, i=i, pad="x" * (i % 7 * 1500))
    """
)


def read_lines(*paths: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for path in paths for line in path.read_bytes().splitlines()]


def run_workers(path: Path, workers: int, count: int, nonblocking: bool, max_bytes: int) -> None:
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                str(path),
                f"w{n}",
                str(count),
                str(int(nonblocking)),
                str(max_bytes),
            ],
        )
        for n in range(workers)
    ]
    try:
        for proc in procs:
            assert 0 == proc.wait(timeout=90)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


class TestFile:
    def test_appends_json_lines_and_creates_the_folder(self, tmp_path: Path) -> None:
        path = tmp_path / "logs" / "app.jsonl"
        tracelog.configure(outputs=[File(path)])
        log = tracelog.get_logger("t")

        log.info("one")
        log.info("two")

        assert ["one", "two"] == [line["message"] for line in read_lines(path)]

    @pytest.mark.parametrize("max_bytes", [None, 200_000])
    def test_a_signal_handler_that_logs_never_hangs_it(
        self, tmp_path: Path, max_bytes: int | None
    ) -> None:
        # The handler runs on the thread that holds the file's lock, mid-write (or mid-rotation).
        path = tmp_path / "app.jsonl"
        script = """
            import signal, sys, time, tracelog
            from tracelog.outputs import File
            size = int(sys.argv[2]) or None
            tracelog.configure(outputs=[File(sys.argv[1], max_bytes=size, backups=None)])
            log = tracelog.get_logger("t")
            handled = [0]
            def handler(*_):
                handled[0] += 1
                log.info("in handler")
            signal.signal(signal.SIGALRM, handler)
            signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
            for i in range(20_000):
                log.info("main", i=i, pad="x" * 100)
            signal.setitimer(signal.ITIMER_REAL, 0)
            print(handled[0])
        """
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(script), str(path), str(max_bytes or 0)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert 0 == done.returncode, done.stderr
        lines = read_lines(*sorted(tmp_path.glob("app*.jsonl*")))
        lines.sort(key=lambda line: str(line["timestamp"]))
        main = [line["i"] for line in lines if line["message"] == "main"]
        assert list(range(20_000)) == main
        assert int(done.stdout) == sum(1 for line in lines if line["message"] == "in handler")

    def test_console_format_and_schema(self, tmp_path: Path) -> None:
        plain, ecs = tmp_path / "app.log", tmp_path / "app.ecs.jsonl"
        tracelog.configure(outputs=[File(plain, format="console"), File(ecs, schema="ecs")])

        tracelog.get_logger("t").info("hi")

        assert "hi" in plain.read_text()
        assert "\x1b[" not in plain.read_text()  # no colour in files
        assert "hi" == read_lines(ecs)[0]["message"]

    def test_an_unwritable_path_fails_at_configure(self, tmp_path: Path) -> None:
        (tmp_path / "dir").mkdir()

        with pytest.raises(IsADirectoryError):
            File(tmp_path / "dir")

    def test_a_failed_write_never_raises_and_reopens(self, tmp_path: Path) -> None:
        path = tmp_path / "app.jsonl"
        out = File(path)
        os.close(out._fd)  # the descriptor goes bad behind the output's back

        out.write(b'{"n":1}\n')
        out.write(b'{"n":2}\n')

        assert [{"n": 2}] == read_lines(path)
        assert {"written": 1, "failed": 1} == {k: out.stats()[k] for k in ("written", "failed")}
        assert 1 == _faults.counts()["output"]

    def test_a_write_after_close_reopens(self, tmp_path: Path) -> None:
        out = File(tmp_path / "a.jsonl")
        out.close()

        out.write(b"{}\n")

        assert 1 == out.stats()["written"]


class TestSizeRotation:
    def test_numbered_backups_and_retention(self, tmp_path: Path) -> None:
        path = tmp_path / "app.jsonl"
        out = File(path, max_bytes=100, backups=2)

        for n in range(10):
            out.write(orjson.dumps({"n": n, "pad": "x" * 30}) + b"\n")  # 2 lines per file

        names = sorted(p.name for p in tmp_path.iterdir())
        assert ["app.jsonl", "app.jsonl.1", "app.jsonl.2"] == names
        assert [8, 9] == [line["n"] for line in read_lines(path)]
        assert [6, 7] == [line["n"] for line in read_lines(tmp_path / "app.jsonl.1")]
        assert [4, 5] == [line["n"] for line in read_lines(tmp_path / "app.jsonl.2")]
        assert all(p.stat().st_size <= 100 for p in tmp_path.iterdir())
        assert 4 == out.stats()["rotations"]

    def test_a_batch_is_split_at_the_size_limit(self, tmp_path: Path) -> None:
        path = tmp_path / "app.jsonl"
        out = File(path, max_bytes=100, backups=None)

        out.write_lines([orjson.dumps({"n": n, "pad": "x" * 30}) + b"\n" for n in range(6)])

        assert [4, 5] == [line["n"] for line in read_lines(path)]
        assert [0, 1] == [line["n"] for line in read_lines(tmp_path / "app.jsonl.2")]

    def test_max_age_removes_old_backups(self, tmp_path: Path) -> None:
        old = tmp_path / "app.jsonl.3"
        old.write_text("{}\n")
        os.utime(old, (time.time() - 7200, time.time() - 7200))
        out = File(tmp_path / "app.jsonl", max_bytes=10, backups=None, max_age=3600)

        out.write(b'{"a":"0123456789"}\n')
        out.write(b'{"a":"0123456789"}\n')

        assert not old.exists()
        assert (tmp_path / "app.jsonl.1").exists()


class TestTimeRotation:
    def test_rotates_when_the_period_ends_and_names_the_file_after_it(self, tmp_path: Path) -> None:
        path = tmp_path / "app.jsonl"
        out = File(path, when="H", backups=3)
        start = out._period_start
        out.write(b'{"n":1}\n')
        out._next_rollover = time.time() - 1  # the hour is over

        out.write(b'{"n":2}\n')

        stamp = time.strftime("%Y-%m-%d_%H", time.gmtime(start))
        assert [{"n": 1}] == read_lines(tmp_path / f"app.jsonl.{stamp}")
        assert [{"n": 2}] == read_lines(path)
        assert out._next_rollover > time.time()

    def test_midnight_period_starts_at_midnight(self, tmp_path: Path) -> None:
        out = File(tmp_path / "a.jsonl", when="midnight")

        assert 0 == out._period_start % 86400
        assert 86400 == out._next_rollover - out._period_start

    def test_retention_keeps_the_newest(self, tmp_path: Path) -> None:
        for day, age in (("2026-11-20", 5), ("2026-11-21", 4), ("2026-11-22", 3)):
            stale = tmp_path / f"app.jsonl.{day}"
            stale.write_text("{}\n")
            os.utime(stale, (time.time() - age * 86400,) * 2)
        out = File(tmp_path / "app.jsonl", when="D", backups=2)
        out.write(b"{}\n")
        out._next_rollover = time.time() - 1

        out.write(b"{}\n")

        kept = sorted(p.name for p in tmp_path.iterdir() if p.name != "app.jsonl")
        assert 2 == len(kept)
        assert "app.jsonl.2026-11-22" in kept

    def test_bad_when_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="when='weekly' is not one of S, M, H, D, midnight"):
            File(tmp_path / "a", when="weekly")


class TestExternalRotation:
    def test_watch_follows_a_moved_file(self, tmp_path: Path) -> None:
        path = tmp_path / "app.jsonl"
        out = File(path, watch=True)
        out.write(b'{"n":1}\n')
        path.rename(tmp_path / "app.jsonl.1")  # what logrotate does
        out._next_check = 0  # the once-a-second look is due

        out.write(b'{"n":2}\n')

        assert [{"n": 1}] == read_lines(tmp_path / "app.jsonl.1")
        assert [{"n": 2}] == read_lines(path)

    def test_without_watch_lines_follow_the_open_file(self, tmp_path: Path) -> None:
        path = tmp_path / "app.jsonl"
        out = File(path)
        path.rename(tmp_path / "moved")
        out._next_check = 0

        out.write(b"{}\n")

        assert not path.exists()

    def test_reopen_for_a_sighup_handler(self, tmp_path: Path) -> None:
        path = tmp_path / "app.jsonl"
        out = File(path)
        path.unlink()

        out.reopen()
        out.write(b"{}\n")

        assert path.exists()

    def test_copytruncate_keeps_appending_at_the_end(self, tmp_path: Path) -> None:
        path = tmp_path / "app.jsonl"
        out = File(path)
        out.write(b'{"n":1}\n')
        os.truncate(path, 0)

        out.write(b'{"n":2}\n')

        assert b'{"n":2}\n' == path.read_bytes()  # no hole of zero bytes before it


class TestSeveralProcesses:
    def test_with_max_bytes_a_big_batch_is_written_in_chunks(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Between two chunks the real size is read again, so what other
        # processes append while one writes is bounded by a chunk each.
        sizes: list[int] = []
        real_write = os.write

        def observed(fd: int, data: bytes) -> int:
            sizes.append(len(data))
            return real_write(fd, data)

        lines = [orjson.dumps({"i": i, "pad": "x" * 2000}) + b"\n" for i in range(200)]
        rotating = File(tmp_path / "rotating.jsonl", max_bytes=10_000_000)
        plain = File(tmp_path / "plain.jsonl")
        monkeypatch.setattr(os, "write", observed)
        rotating.write_lines(lines)
        chunked, sizes[:] = list(sizes), []
        plain.write_lines(lines)
        monkeypatch.undo()
        assert len(chunked) > 1 and max(chunked) <= 64 * 1024
        assert [sum(map(len, lines))] == sizes
        assert lines == (tmp_path / "rotating.jsonl").read_bytes().splitlines(keepends=True)

    @pytest.mark.parametrize("nonblocking", [False, True])
    def test_lines_are_never_torn_or_interleaved(self, tmp_path: Path, nonblocking: bool) -> None:
        path = tmp_path / "shared.jsonl"
        workers, count = 4, 400

        run_workers(path, workers, count, nonblocking, max_bytes=0)

        lines = read_lines(path)  # every line parses: none torn, none interleaved
        seen = collections.Counter(str(line["worker"]) for line in lines)
        assert {f"w{n}": count for n in range(workers)} == dict(seen)
        for n in range(workers):
            mine = [line["i"] for line in lines if line["worker"] == f"w{n}"]
            assert list(range(count)) == mine

    def test_rotation_across_processes_loses_and_tears_nothing(self, tmp_path: Path) -> None:
        path = tmp_path / "shared.jsonl"
        workers, count = 4, 300

        run_workers(path, workers, count, True, max_bytes=200_000)

        files = sorted(tmp_path.glob("shared.jsonl*"))
        assert len(files) > 3
        lines = read_lines(*files)
        assert workers * count == len(lines)
        assert workers * count == len({(line["worker"], line["i"]) for line in lines})
        sizes = [f.stat().st_size for f in files]
        # each other process may have a chunk (64 KiB at most) in flight while one rotates
        assert max(sizes) <= 200_000 + (workers - 1) * 64 * 1024, sizes
