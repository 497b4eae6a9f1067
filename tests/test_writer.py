from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from orjson import OPT_APPEND_NEWLINE as APPEND_NEWLINE

import tracelog
from tracelog import _faults
from tracelog.outputs import File, Stream, _lifecycle
from tracelog.outputs._writer import BackgroundWriter


class Gated:
    """An output whose writes wait until the test opens the gate."""

    level = None
    format = "json"
    schema = None

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.lines: list[Any] = []
        self.closed = False

    def write(self, line: Any) -> None:
        self.gate.wait(10)
        self.lines.append(line)

    def flush(self, timeout: float | None = None) -> bool:
        return True

    def close(self, timeout: float | None = None) -> None:
        self.closed = True

    def stats(self) -> dict[str, int]:
        return {"written": len(self.lines), "dropped": 0, "retried": 0, "failed": 0}


def wait_for(condition: Any, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def run(script: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def line_count(path: Path) -> int:
    return len(path.read_bytes().splitlines()) if path.exists() else 0


def finishes(action: Callable[[], object], limit: float = 10.0) -> None:
    """Run ``action`` in a thread of its own; fail if it has not returned within ``limit``."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            action()
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), "hung: a call waited for a lock its own thread holds"
    if errors:
        raise errors[0]


class TestBackgroundWriter:
    def test_lines_arrive_in_order_and_flush_waits_for_them(self) -> None:
        out = io.BytesIO()
        writer = BackgroundWriter(Stream(out))

        for n in range(1000):
            writer.write(b"%d\n" % n)

        assert writer.flush(10) is True
        assert [b"%d" % n for n in range(1000)] == out.getvalue().splitlines()
        assert 1000 == writer.stats()["written"]
        writer.close()

    def test_drop_counts_and_reports_when_full(self) -> None:
        output = Gated()
        writer = BackgroundWriter(output, queue_size=10, overflow="drop", notice=lambda n: n)

        for n in range(100):
            writer.write(n)  # never waits, even with the output stuck (lines need not be bytes)
        output.gate.set()
        writer.flush(10)

        stats = writer.stats()
        assert stats["dropped"] > 0
        assert 100 == stats["dropped"] + stats["written"] - 1  # minus the notice line
        kept = [line for line in output.lines if line != stats["dropped"]]
        assert len(kept) == len(output.lines) - 1  # one notice, carrying the count
        assert sorted(kept) == kept
        assert 1 == _faults.counts()["dropped"]

    def test_block_waits_for_room_and_loses_nothing(self) -> None:
        output = Gated()
        writer = BackgroundWriter(output, queue_size=5, overflow="block")
        producer = threading.Thread(target=lambda: [writer.write(n) for n in range(50)])

        producer.start()
        wait_for(lambda: len(writer._blocked) == 1)  # the producer is waiting for room
        output.gate.set()
        producer.join(10)
        writer.flush(10)

        assert list(range(50)) == output.lines
        assert 0 == writer.stats()["dropped"]

    def test_flush_times_out_while_the_output_is_stuck(self) -> None:
        output = Gated()
        writer = BackgroundWriter(output)
        writer.write(b"x\n")

        assert writer.flush(0.05) is False
        output.gate.set()
        assert writer.flush(10) is True

    def test_after_close_lines_are_written_by_the_caller(self) -> None:
        out = io.BytesIO()
        writer = BackgroundWriter(Stream(out))
        writer.close()

        writer.write(b"late\n")

        assert b"late\n" == out.getvalue()
        assert writer._thread is None or not writer._thread.is_alive()

    def test_flush_writes_inline_when_the_thread_is_gone(self) -> None:
        out = io.BytesIO()
        writer = BackgroundWriter(Stream(out))
        writer.write(b"a\n")
        writer.flush(10)
        writer._stopping = True
        try:
            writer._wakeup.release()
        except RuntimeError:  # already released
            pass
        assert writer._thread is not None
        writer._thread.join(10)
        writer._idle = False  # as if the thread had died in the middle of a batch

        writer.write(b"b\n")

        assert writer.flush(10) is True
        assert b"a\nb\n" == out.getvalue()

    def test_the_queue_holds_compact_lines(self) -> None:
        output = Gated()
        writer = BackgroundWriter(output, queue_size=5000)
        lines = 500
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for n in range(lines):
                writer.write(orjson.dumps({"n": n, "pad": "x" * 100}, option=APPEND_NEWLINE))
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
            output.gate.set()
        writer.flush(10)

        assert held < lines * 1024  # orjson's own bytes keep a 4 KiB buffer each
        assert lines == len(output.lines)

    def test_bad_options(self) -> None:
        with pytest.raises(ValueError, match="overflow='x' is not one of drop, block"):
            BackgroundWriter(Gated(), overflow="x")


class Roomy(Gated):
    """A stuck output that says it has room: a wait for it is one that sees no batch."""

    def has_room(self) -> bool:
        return True


class TestStarvedWriter:
    """overflow="drop": a full queue whose writer only waits for the GIL gets it handed over."""

    def test_a_busy_caller_into_a_pipe_that_keeps_up_loses_nothing(self) -> None:
        # A caller that never pauses holds the GIL; to a pipe the writer writes 4 KiB at a
        # time and needs the GIL back after each write. Without the hand-over most of
        # these lines were dropped with the reader idle.
        script = """
        import logging, sys, tracelog
        tracelog.configure(service="busy", nonblocking=True)
        std = logging.getLogger("busy")
        extra = {"user_id": 42, "path": "/api/items", "status": 200, "duration_ms": 12.5}
        with tracelog.trace():
            for _ in range(60_000):
                std.info("request handled", extra=extra)
        tracelog.flush()
        (counts,) = tracelog.stats().values()
        print(counts["dropped"], counts["written"], file=sys.stderr)
        """
        reader = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(script)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = reader.communicate(timeout=120)
        assert 0 == reader.returncode, err
        dropped = int(err.split()[-2])
        notices = [line for line in out.splitlines() if b'"logger":"tracelog"' in line]
        assert 60_000 == dropped + len(out.splitlines()) - len(notices)
        assert dropped <= 600, f"{dropped} of 60000 lines dropped with the reader keeping up"

    def test_a_stuck_output_costs_one_wait_then_lines_drop_at_once(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from tracelog.outputs import _writer

        waits: list[float] = []
        real = _writer.waiting

        @contextlib.contextmanager
        def counted(waiters: Any) -> Iterator[Any]:
            if waiters is writer._blocked:  # a caller waiting for room (not flush())
                waits.append(time.monotonic())
            with real(waiters) as lock:
                yield lock

        monkeypatch.setattr(_writer, "waiting", counted)
        monkeypatch.setattr(_writer, "STARVED_WAIT", 0.05)
        output = Roomy()
        writer = BackgroundWriter(output, queue_size=2, overflow="drop")
        for n in range(50):
            writer.write(n)
        output.gate.set()
        writer.flush(10)

        assert 1 == len(waits)  # then STARVED_BACKOFF: no caller waits for a stuck output
        stats = writer.stats()
        assert 50 == stats["written"] + stats["dropped"]
        writer.close()

    def test_an_output_that_cannot_tell_is_never_waited_for(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from tracelog.outputs import _writer

        real = _writer.waiting

        def refused(waiters: Any) -> Any:
            assert waiters is not writer._blocked, "a caller waited for room"
            return real(waiters)

        monkeypatch.setattr(_writer, "waiting", refused)
        output = Gated()  # no has_room()
        writer = BackgroundWriter(output, queue_size=2, overflow="drop")
        for n in range(20):
            writer.write(n)
        output.gate.set()
        writer.flush(10)
        assert writer.stats()["dropped"] > 0
        writer.close()


class TestHasRoom:
    def test_a_regular_file_always_has_room(self, tmp_path: Path) -> None:
        stream = Stream(open(tmp_path / "a.log", "ab"))
        stream.write(b"x\n")
        assert stream.has_room() is True
        assert File(tmp_path / "b.log").has_room() is True

    def test_a_stream_of_yours_cannot_tell(self) -> None:
        stream = Stream(io.BytesIO())
        stream.write(b"x\n")
        assert stream.has_room() is None

    @pytest.mark.skipif(not sys.platform.startswith("linux"), reason="F_GETPIPE_SZ is Linux's")
    def test_a_pipe_has_room_until_it_is_full(self) -> None:
        read_end, write_end = os.pipe()
        try:
            os.set_blocking(write_end, False)
            with open(write_end, "wb", closefd=False) as target:
                stream = Stream(target)
                stream.write(b"x\n")
                assert stream.has_room() is True
                with contextlib.suppress(BlockingIOError):
                    while True:
                        os.write(write_end, b"x" * 4096)
                assert stream.has_room() is False
        finally:
            os.close(read_end)
            os.close(write_end)


class TestConfigureNonblocking:
    def test_streams_and_files_are_wrapped_shippers_are_not(self, tmp_path: Path) -> None:
        class Shipper(Gated):
            pass

        shipper = Shipper()
        tracelog.configure(
            outputs=[Stream(io.BytesIO()), File(tmp_path / "a.jsonl"), shipper], nonblocking=True
        )

        kinds = [type(output) for output in _lifecycle.installed()]
        assert [BackgroundWriter, BackgroundWriter, Shipper] == kinds

    def test_flush_and_stats_through_the_top_level_functions(self, tmp_path: Path) -> None:
        path = tmp_path / "a.jsonl"
        tracelog.configure(outputs=[File(path)], nonblocking=True, queue_size=100_000)
        log = tracelog.get_logger("t")

        for n in range(5000):
            log.info("n", n=n)

        assert tracelog.flush(30) is True
        assert 5000 == line_count(path)
        stats = tracelog.stats()[f"file:{path}"]
        assert {"written": 5000, "dropped": 0, "queued": 0} == {
            k: stats[k] for k in ("written", "dropped", "queued")
        }

    def test_drops_are_reported_in_the_output_itself(self) -> None:
        out = io.BytesIO()
        stream = Stream(out)
        tracelog.configure(outputs=[stream], nonblocking=True, queue_size=3)
        writer = _lifecycle.installed()[0]
        with writer._io_lock:  # hold the writer back while the queue overflows
            for n in range(20):
                tracelog.get_logger("t").info("n", n=n)
        tracelog.flush(10)

        lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
        (notice,) = [line for line in lines if line["logger"] == "tracelog"]
        assert "warning" == notice["level"]
        assert 20 == notice["dropped"] + len(lines) - 1

    def test_context_is_captured_in_the_callers_thread(self) -> None:
        out = io.BytesIO()
        tracelog.configure(outputs=[Stream(out)], nonblocking=True)

        with tracelog.trace() as ctx:
            tracelog.get_logger("t").info("inside")
        tracelog.flush(10)

        assert ctx.trace_id == orjson.loads(out.getvalue())["trace_id"]


class TestReentry:
    """A log call made while its own thread is inside the writer: it never waits for itself."""

    def test_a_storm_of_signals_never_costs_the_callers_lines(self, tmp_path: Path) -> None:
        # Handlers interrupting a wait for room stacked waits until RecursionError, which
        # (inside Thread.is_alive) marked the live writer as stopped: later lines were dropped.
        path = tmp_path / "storm.log"
        done = run(
            """
            import signal, sys, time, tracelog
            log = tracelog.get_logger("x")
            signal.signal(signal.SIGALRM, lambda *_: log.info("from-signal"))
            tracelog.configure(stream=open(sys.argv[1], "w"), nonblocking=True,
                               overflow="block", queue_size=4)
            signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
            for i in range(3000):
                log.info("main", i=i, blob="x" * 3000)
            signal.setitimer(signal.ITIMER_REAL, 0)
            for i in range(500):
                log.info("later", i=i)
            tracelog.flush()
            """,
            str(path),
        )
        assert 0 == done.returncode, done.stderr
        lines = path.read_bytes().splitlines()
        assert 3000 == sum(1 for line in lines if b'"main"' in line)
        assert 500 == sum(1 for line in lines if b'"later"' in line)

    def test_the_output_logging_from_inside_its_own_write(self) -> None:
        output = Gated()
        output.gate.set()
        flushed: list[bool] = []
        writer = BackgroundWriter(output)
        writer.close(close_output=False)  # from here on the caller writes its own lines

        def write(line: Any) -> None:
            output.lines.append(line)
            if line == "outer":
                writer.write("inner")
                flushed.append(writer.flush(1))

        output.write = write  # type: ignore[method-assign]

        finishes(lambda: writer.write("outer"))

        assert ["outer", "inner"] == output.lines  # the write under way takes it next
        assert [False] == flushed  # it would have waited for itself

    def test_a_full_queue_in_the_fork_window_drops_instead_of_blocking(self) -> None:
        output = Gated()
        output.gate.set()
        writer = BackgroundWriter(output, queue_size=2, overflow="block")
        writer.write(0)
        writer.flush(10)

        def log_in_the_fork_window() -> None:  # as a signal handler may
            held = writer._before_fork()  # holds the writer back
            try:
                for n in range(1, 4):
                    writer.write(n)
            finally:
                writer._after_fork_parent(held)

        finishes(log_in_the_fork_window)
        writer.flush(10)

        assert [0, 1, 2] == output.lines
        assert 1 == writer.stats()["dropped"]

    def test_dropping_a_line_while_this_thread_counts_one(self) -> None:
        output = Gated()
        writer = BackgroundWriter(output, queue_size=1, overflow="drop")

        def drop_while_counting() -> None:
            with writer._count_lock:  # as if a signal handler interrupted the count
                for n in range(5):
                    writer.write(n)

        finishes(drop_while_counting)
        output.gate.set()
        writer.flush(10)

        stats = writer.stats()
        assert stats["dropped"] > 0
        assert 5 == stats["written"] + stats["dropped"]

    @pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs signal.setitimer")
    @pytest.mark.parametrize(("mode", "write_time"), [("queued", "0.001"), ("closed", "0.0001")])
    def test_a_signal_handler_that_logs_never_hangs_the_block_mode(
        self, mode: str, write_time: str
    ) -> None:
        # The handler interrupts the main thread while it waits for room ("queued")
        # or while it writes its own line to the output ("closed"; a write there
        # must take less than the 0.3 ms between signals, or the main thread
        # would do nothing but write the handler's lines).
        result = run(SIGNAL_SCRIPT, mode, "2", write_time, timeout=30)

        assert 0 == result.returncode, result.stderr
        counts = orjson.loads(result.stdout)
        assert counts["calls"] > 0
        assert list(range(counts["sent"])) == counts["main"]  # every one, in order
        assert counts["calls"] == counts["handler"] + counts["dropped"]

    @pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs signal.setitimer")
    def test_a_signal_handler_that_logs_while_the_thread_starts(self) -> None:
        script = """
        import signal, time
        from tracelog.outputs._writer import BackgroundWriter
        class Sink:
            def __init__(self):
                self.lines = []
            def write(self, line):
                self.lines.append(line)
        writers, calls = [], 0
        def handler(signum, frame):
            global calls
            calls += 1
            writers[-1].write(b"h")
        signal.signal(signal.SIGALRM, handler)
        writers.append(BackgroundWriter(Sink()))
        signal.setitimer(signal.ITIMER_REAL, 0.0003, 0.0003)
        start = time.monotonic()
        while time.monotonic() - start < 1:
            writer = BackgroundWriter(Sink())
            writers.append(writer)
            writer.write(b"m")  # starts its thread, in which the handler may log to it
        signal.setitimer(signal.ITIMER_REAL, 0)
        for writer in writers:
            writer.close()
        lines = [line for writer in writers for line in writer.output.lines]
        assert len(writers) - 1 == lines.count(b"m"), "lost main lines"
        assert calls == lines.count(b"h"), "lost handler lines"
        """

        result = run(script, timeout=30)

        assert 0 == result.returncode, result.stderr


SIGNAL_SCRIPT = """
import io, json, signal, sys, time
import orjson, tracelog
from tracelog.outputs import _lifecycle

class Slow(io.RawIOBase):
    def __init__(self):
        self.chunks = []
    def writable(self):
        return True
    def write(self, data):
        time.sleep(float(sys.argv[3]))
        self.chunks.append(bytes(data))
        return len(data)

stream = Slow()
tracelog.configure(stream=stream, nonblocking=True, overflow="block", queue_size=10)
if sys.argv[1] == "closed":
    _lifecycle.installed()[0].close(close_output=False)
log = tracelog.get_logger("x")
calls = sent = 0
def handler(signum, frame):
    global calls
    calls += 1
    log.info("in handler")
signal.signal(signal.SIGALRM, handler)
signal.setitimer(signal.ITIMER_REAL, 0.0003, 0.0003)
start = time.monotonic()
while time.monotonic() - start < float(sys.argv[2]):
    log.info("main", n=sent)
    sent += 1
signal.setitimer(signal.ITIMER_REAL, 0)
assert tracelog.flush(10)
lines = [orjson.loads(line) for line in b"".join(stream.chunks).splitlines()]
print(json.dumps({
    "sent": sent,
    "calls": calls,
    "main": [line["n"] for line in lines if line["message"] == "main"],
    "handler": sum(1 for line in lines if line["message"] == "in handler"),
    "dropped": next(iter(tracelog.stats().values()))["dropped"],
}))
"""

EXIT_SCRIPT = """
import sys, tracelog
from tracelog.outputs import File
tracelog.configure(outputs=[File(sys.argv[1])], nonblocking=True, queue_size=1_000_000)
log = tracelog.get_logger("exit")
for n in range(int(sys.argv[2])):
    log.info("n", n=n)
"""


class TestExit:
    def test_everything_queued_is_written_at_exit(self, tmp_path: Path) -> None:
        path = tmp_path / "a.jsonl"

        result = run(EXIT_SCRIPT, str(path), "50000")

        assert 0 == result.returncode, result.stderr
        assert 50_000 == line_count(path)

    def test_a_multiprocessing_child_writes_its_queue_before_it_ends(self, tmp_path: Path) -> None:
        path = tmp_path / "a.jsonl"
        script = """
        import multiprocessing, sys, tracelog
        from tracelog.outputs import File
        tracelog.configure(outputs=[File(sys.argv[1])], nonblocking=True, queue_size=1_000_000)
        def work():
            log = tracelog.get_logger("child")
            for n in range(20000):
                log.info("n", n=n)
        if __name__ == "__main__":
            process = multiprocessing.get_context("fork").Process(target=work)
            process.start()
            process.join(60)
            sys.exit(process.exitcode)
        """

        result = run(script, str(path))

        assert 0 == result.returncode, result.stderr
        assert 20_000 == line_count(path)

    def test_processes_sharing_a_pipe_never_tear_each_others_lines(self) -> None:
        # Three processes log through the background writer to one stdout pipe
        # (as gunicorn workers do); the reader is slow, so the pipe is full and
        # the kernel takes each write as room appears.
        script = """
        import sys, tracelog
        tracelog.configure(service=sys.argv[1], nonblocking=True, queue_size=100_000)
        log = tracelog.get_logger("w")
        for n in range(2000):
            log.info("n", n=n, pad="x" * 300)
        """
        read_end, write_end = os.pipe()
        children = [
            subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(script), f"worker-{n}"],
                stdout=write_end,
                stderr=subprocess.DEVNULL,
            )
            for n in range(3)
        ]
        os.close(write_end)
        time.sleep(0.5)
        chunks = []
        with open(read_end, "rb", buffering=0) as pipe:
            while chunk := pipe.read(1000):
                chunks.append(chunk)
        for child in children:
            assert 0 == child.wait(60)

        lines = [orjson.loads(line) for line in b"".join(chunks).splitlines()]
        for n in range(3):
            assert list(range(2000)) == [
                line["n"] for line in lines if line["service"] == f"worker-{n}"
            ]

    def test_sigterm_writes_the_queue_then_ends_by_the_signal(self, tmp_path: Path) -> None:
        path = tmp_path / "a.jsonl"
        script = EXIT_SCRIPT + "import os, signal, time\nos.kill(os.getpid(), signal.SIGTERM)\n"
        script += "time.sleep(30)\nprint('not reached')\n"

        result = run(script, str(path), "50000")

        assert -signal.SIGTERM == result.returncode, result.stderr
        assert "not reached" not in result.stdout
        assert 50_000 == line_count(path)

    def test_sigterm_chains_the_previous_handler(self, tmp_path: Path) -> None:
        path = tmp_path / "a.jsonl"
        script = (
            "import signal, sys\n"
            "def mine(signum, frame):\n"
            "    print('previous handler ran')\n"
            "    sys.exit(3)\n"
            "signal.signal(signal.SIGTERM, mine)\n" + EXIT_SCRIPT + "import os, time\n"
            "os.kill(os.getpid(), signal.SIGTERM)\ntime.sleep(30)\n"
        )

        result = run(script, str(path), "20000")

        assert 3 == result.returncode, result.stderr
        assert "previous handler ran" in result.stdout
        assert 20_000 == line_count(path)

    def test_sigterm_handler_is_only_installed_from_the_main_thread(self) -> None:
        before = signal.getsignal(signal.SIGTERM)
        worker = threading.Thread(
            target=lambda: tracelog.configure(outputs=[Stream(io.BytesIO())], nonblocking=True)
        )

        worker.start()
        worker.join(10)

        assert before == signal.getsignal(signal.SIGTERM)

    def test_reset_restores_the_previous_sigterm_handler(self) -> None:
        before = signal.getsignal(signal.SIGTERM)
        tracelog.configure(outputs=[Stream(io.BytesIO())], nonblocking=True)
        assert _lifecycle._on_sigterm == signal.getsignal(signal.SIGTERM)

        tracelog.reset()

        assert before == signal.getsignal(signal.SIGTERM)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
class TestFork:
    def test_child_gets_a_working_writer_and_nothing_is_written_twice(self, tmp_path: Path) -> None:
        path = tmp_path / "a.jsonl"
        script = """
        import os, sys, tracelog
        from tracelog.outputs import File
        tracelog.configure(outputs=[File(sys.argv[1])], nonblocking=True, queue_size=1_000_000)
        log = tracelog.get_logger("fork")
        for n in range(20000):
            log.info("parent", n=n)
        children = []
        for c in range(3):
            pid = os.fork()
            if pid == 0:
                for n in range(1000):
                    log.info("child", child=c, n=n)
                os._exit(0 if tracelog.flush(30) else 1)
            children.append(pid)
        log.info("parent after fork")
        codes = [os.waitpid(pid, 0)[1] for pid in children]
        sys.exit(1 if any(codes) else 0)
        """

        result = run(script, str(path))

        assert 0 == result.returncode, result.stderr
        lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
        parent = [line["n"] for line in lines if line["message"] == "parent"]
        assert list(range(20000)) == parent  # once each, in order
        for c in range(3):
            assert 1000 == sum(1 for line in lines if line.get("child") == c)
        assert 1 == sum(1 for line in lines if line["message"] == "parent after fork")

    def test_forking_while_another_thread_logs_never_deadlocks(self, tmp_path: Path) -> None:
        path = tmp_path / "a.jsonl"
        script = """
        import os, sys, threading, tracelog
        from tracelog.outputs import File, Stream
        tracelog.configure(
            outputs=[File(sys.argv[1]), Stream(open(os.devnull, "w"))], nonblocking=True
        )
        log = tracelog.get_logger("fork")
        stop = threading.Event()
        def chatter():
            while not stop.is_set():
                log.info("noise")
        thread = threading.Thread(target=chatter)
        thread.start()
        failures = 0
        for c in range(20):
            pid = os.fork()
            if pid == 0:
                log.info("child", child=c)
                os._exit(0 if tracelog.flush(10) else 1)
            failures += os.waitpid(pid, 0)[1] != 0
        stop.set()
        thread.join()
        sys.exit(failures)
        """

        result = run(script, str(path), timeout=90)

        assert 0 == result.returncode, result.stderr
        lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
        assert list(range(20)) == sorted(line["child"] for line in lines if "child" in line)
