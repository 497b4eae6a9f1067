"""The Loki shipper against a strict local receiver of Loki's push API."""

from __future__ import annotations

import base64
import gzip
import http.client
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from _receivers import LokiReceiver, numbers, tracelog_lines, wait_until
from tracelog import _faults
from tracelog.outputs.shipping.loki import Loki

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


def line_at(second: int, number: int, level: str = "info") -> bytes:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1_790_000_000 + second))
    return (
        orjson.dumps(
            {
                "timestamp": f"{stamp}.000000Z",
                "level": level,
                "logger": "shop",
                "message": f"event {number}",
                "trace_id": TRACE,
                "span_id": SPAN,
                "service": "shop",
                "number": number,
            }
        )
        + b"\n"
    )


@pytest.fixture
def receiver() -> Iterator[LokiReceiver]:
    with LokiReceiver() as server:
        yield server


@pytest.fixture
def shippers() -> Iterator[list[Loki]]:
    made: list[Loki] = []
    yield made
    for shipper in made:
        shipper.close(timeout=2)


def loki(shippers: list[Loki], url: str, **options: object) -> Loki:
    options.setdefault("batch_interval", 0.05)
    options.setdefault("backoff", 0.05)
    options.setdefault("max_backoff", 0.2)
    shipper = Loki(url, **options)  # type: ignore[arg-type]
    shippers.append(shipper)
    return shipper


def post(receiver: LokiReceiver, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)
    try:
        conn.request("POST", "/loki/api/v1/push", body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


JSON = {"Content-Type": "application/json"}


def push(streams: object) -> bytes:
    return orjson.dumps({"streams": streams})


class TestLokiReceiver:
    """The receiver refuses what Loki refuses, so the shipper's tests mean something."""

    def test_accepts_a_documented_push(self, receiver: LokiReceiver) -> None:
        body = push([{"stream": {"service": "shop"}, "values": [["1", "a", {"trace_id": TRACE}]]}])
        assert (204, b"") == post(receiver, body, JSON)
        assert [({"service": "shop"}, 1, "a", {"trace_id": TRACE})] == receiver.entries

    @pytest.mark.parametrize(
        ("body", "headers", "status"),
        [
            (
                push([{"stream": {"a": "b"}, "values": [["1", "x"]]}]),
                {"Content-Type": "text/plain"},
                415,
            ),
            (b"{not json", JSON, 400),
            (push([{"stream": {"a": "b"}, "values": [[1, "x"]]}]), JSON, 400),
            (push([{"stream": {"a": "b"}, "values": [["1.5", "x"]]}]), JSON, 400),
            (push([{"stream": {"trace-id": "b"}, "values": [["1", "x"]]}]), JSON, 400),
            (push([{"stream": {"__name__": "b"}, "values": [["1", "x"]]}]), JSON, 400),
            (push([{"stream": {}, "values": [["1", "x"]]}]), JSON, 400),
            (push([{"stream": {"a": "b"}, "values": [["1", "x", {"n": 1}]]}]), JSON, 400),
            (push([]), JSON, 400),
            (gzip.compress(b"{}")[:-4], {**JSON, "Content-Encoding": "gzip"}, 400),
            (
                push([{"stream": {"a": "b"}, "values": [["1", "x"]]}]),
                {**JSON, "Content-Encoding": "br"},
                415,
            ),
        ],
    )
    def test_refuses_what_loki_refuses(
        self, receiver: LokiReceiver, body: bytes, headers: dict[str, str], status: int
    ) -> None:
        assert status == post(receiver, body, headers)[0]
        assert [] == receiver.entries

    def test_refuses_entries_too_far_behind_and_keeps_the_rest(self) -> None:
        with LokiReceiver(window_ns=10) as receiver:
            body = push(
                [{"stream": {"a": "b"}, "values": [["100", "new"], ["50", "old"], ["95", "ok"]]}]
            )
            status, answer = post(receiver, body, JSON)
        assert 400 == status
        assert b"entry too far behind" in answer
        assert ["new", "ok"] == receiver.lines()


class TestLoki:
    def test_pushes_json_gzip_with_labels_and_structured_metadata(
        self, receiver: LokiReceiver, shippers: list[Loki]
    ) -> None:
        shipper = loki(shippers, receiver.url, labels={"env": "prod"})
        lines = tracelog_lines(3)
        for line in lines:
            shipper.write(line)

        assert shipper.flush(10)

        assert [line.rstrip(b"\n").decode() for line in lines] == receiver.lines()
        labels, _, text, metadata = receiver.entries[0]
        assert {"env": "prod", "service": "shop", "level": "info"} == labels
        assert orjson.loads(text)["trace_id"] == metadata["trace_id"]
        assert orjson.loads(text)["span_id"] == metadata["span_id"]
        assert {"written": 3, "failed": 0, "dropped": 0, "retried": 0} == {
            k: v
            for k, v in shipper.stats().items()
            if k in ("written", "failed", "dropped", "retried")
        }

    def test_entry_timestamp_is_the_lines_own_in_nanoseconds(
        self, receiver: LokiReceiver, shippers: list[Loki]
    ) -> None:
        shipper = loki(shippers, receiver.url)
        shipper.write(b'{"timestamp":"2026-11-25T07:40:34.123456Z","level":"info","message":"m"}\n')
        assert shipper.flush(10)
        assert 1795592434123456000 == receiver.entries[0][1]

    def test_sends_tenant_and_basic_auth(self, shippers: list[Loki]) -> None:
        basic = "Basic " + base64.b64encode(b"shop:s3cret").decode()
        expected = {"X-Scope-OrgID": "team-a", "Authorization": basic, "Content-Encoding": "gzip"}
        with LokiReceiver(expect_headers=expected) as receiver:
            shipper = loki(shippers, receiver.url, tenant_id="team-a", auth=("shop", "s3cret"))
            shipper.write(tracelog_lines(1)[0])
            assert shipper.flush(10)
            assert 1 == len(receiver.entries)

    def test_sends_a_bearer_token(self, shippers: list[Loki]) -> None:
        with LokiReceiver(expect_headers={"Authorization": "Bearer t0ken"}) as receiver:
            shipper = loki(shippers, receiver.url + "/loki/api/v1/push", auth="t0ken")
            shipper.write(tracelog_lines(1)[0])
            assert shipper.flush(10)
            assert 1 == len(receiver.entries)

    @pytest.mark.parametrize("key", ["trace_id", "span_id", "trace.id", "timestamp", "request_id"])
    def test_refuses_high_cardinality_labels(self, key: str) -> None:
        with pytest.raises(ValueError, match="one stream per"):
            Loki("http://127.0.0.1:9", label_keys=("service", key))

    @pytest.mark.parametrize("name", ["trace-id", "__name__", "9lives"])
    def test_refuses_invalid_static_label_names(self, name: str) -> None:
        with pytest.raises(ValueError, match="label name"):
            Loki("http://127.0.0.1:9", labels={name: "x"})

    def test_every_schema_yields_the_same_labels_and_metadata(
        self, receiver: LokiReceiver, shippers: list[Loki]
    ) -> None:
        shipper = loki(shippers, receiver.url)
        for schema in ("default", "ecs", "otel", "gcp"):
            shipper.write(tracelog_lines(1, schema=schema)[0])
        assert shipper.flush(10)
        assert 4 == len(receiver.entries)
        for labels, _, _, metadata in receiver.entries:
            assert {"service": "shop", "level": "info"} == labels
            assert 32 == len(metadata["trace_id"])

    def test_sorts_each_stream_by_timestamp(self, shippers: list[Loki]) -> None:
        # Two hours apart in reverse order: Loki refuses the older one unless the batch is sorted.
        with LokiReceiver(window_ns=3600 * 10**9) as receiver:
            shipper = loki(shippers, receiver.url, batch_size=10, batch_interval=60)
            for second, number in ((7200, 0), (0, 1), (3600, 2)):
                shipper.write(line_at(second, number))
            assert shipper.flush(10)
            assert [1, 2, 0] == numbers(receiver.documents())
            assert [] == receiver.rejections

    def test_levels_become_separate_streams(
        self, receiver: LokiReceiver, shippers: list[Loki]
    ) -> None:
        shipper = loki(shippers, receiver.url, batch_interval=60)
        shipper.write(line_at(1, 0, "info"))
        shipper.write(line_at(2, 1, "error"))
        assert shipper.flush(10)
        assert {"info", "error"} == {labels["level"] for labels, *_ in receiver.entries}

    def test_retries_429_honouring_retry_after(
        self, receiver: LokiReceiver, shippers: list[Loki]
    ) -> None:
        receiver.fail(429, times=2, retry_after=0)
        shipper = loki(shippers, receiver.url)
        shipper.write(line_at(0, 0))
        assert shipper.flush(20)
        assert [0] == numbers(receiver.documents())
        assert 2 == shipper.stats()["retried"]

    def test_retries_5xx(self, receiver: LokiReceiver, shippers: list[Loki]) -> None:
        receiver.fail(500)
        receiver.fail(503)
        shipper = loki(shippers, receiver.url)
        shipper.write(line_at(0, 0))
        assert shipper.flush(20)
        assert [0] == numbers(receiver.documents())
        assert 2 == shipper.stats()["retried"]

    def test_drops_a_batch_loki_refuses_and_reports_it(
        self, receiver: LokiReceiver, shippers: list[Loki], capfd: pytest.CaptureFixture[str]
    ) -> None:
        receiver.fail(400)
        shipper = loki(shippers, receiver.url, batch_interval=60)
        shipper.write(line_at(0, 0))
        shipper.write(line_at(1, 1))
        assert shipper.flush(10)
        shipper.write(line_at(2, 2))
        assert shipper.flush(10)

        stats = shipper.stats()
        assert (1, 2, 0) == (stats["written"], stats["failed"], stats["retried"])
        assert [2] == numbers(receiver.documents())
        assert "loki: HTTP 400" in capfd.readouterr().err

    def test_a_request_too_large_is_split(
        self, receiver: LokiReceiver, shippers: list[Loki]
    ) -> None:
        receiver.fail(413)
        shipper = loki(shippers, receiver.url, batch_size=8, batch_interval=60)
        for number in range(8):
            shipper.write(line_at(number, number))
        assert shipper.flush(10)
        assert list(range(8)) == numbers(receiver.documents())
        assert 0 == shipper.stats()["failed"]

    def test_slow_responses_delay_nothing_and_lose_nothing(
        self, receiver: LokiReceiver, shippers: list[Loki]
    ) -> None:
        receiver.delay = 0.3
        shipper = loki(shippers, receiver.url, batch_size=20)
        for number in range(200):
            shipper.write(line_at(number, number))
        assert shipper.flush(30)
        assert list(range(200)) == numbers(receiver.documents())

    def test_no_line_lost_across_a_five_second_outage(
        self, receiver: LokiReceiver, shippers: list[Loki]
    ) -> None:
        shipper = loki(shippers, receiver.url, batch_size=50, queue_size=100_000)
        lines = tracelog_lines(1000)
        for line in lines[:100]:
            shipper.write(line)
        assert shipper.flush(10)

        receiver.stop()
        outage_end = time.monotonic() + 5
        written = 100
        while time.monotonic() < outage_end and written < 900:
            shipper.write(lines[written])
            written += 1
            time.sleep(0.005)
        receiver.start()
        for line in lines[written:]:
            shipper.write(line)

        assert shipper.flush(30)
        counts = Counter(numbers(receiver.documents()))
        assert list(range(1000)) == sorted(counts)
        assert {1} == set(counts.values())
        stats = shipper.stats()
        assert 1000 == stats["written"]
        assert stats["retried"] >= 1
        assert 0 == stats["dropped"]

    def test_a_full_buffer_without_spill_drops_and_reports(
        self, receiver: LokiReceiver, shippers: list[Loki], capfd: pytest.CaptureFixture[str]
    ) -> None:
        receiver.stop()
        shipper = loki(shippers, receiver.url, queue_size=5, batch_size=5)
        for number in range(20):
            shipper.write(line_at(number, number))
        assert shipper.stats()["dropped"] >= 10
        assert "buffer full" in capfd.readouterr().err
        assert _faults.counts()["shipping: lines lost"] >= 1

    def test_a_full_buffer_spills_to_disk_and_resends_in_order(
        self, receiver: LokiReceiver, shippers: list[Loki], tmp_path: Path
    ) -> None:
        receiver.stop()
        spill = tmp_path / "loki.spill"
        shipper = loki(shippers, receiver.url, queue_size=10, batch_size=10, spill_path=spill)
        for number in range(100):
            shipper.write(line_at(number, number))
        stats = shipper.stats()
        assert stats["spilled"] >= 80
        assert 0 == stats["dropped"]
        assert spill.stat().st_size > 0

        receiver.start()
        assert shipper.flush(30)
        assert list(range(100)) == numbers(receiver.documents())
        assert 0 == spill.stat().st_size
        assert [] == receiver.rejections

    def test_lines_unsent_at_close_are_kept_and_sent_by_the_next_process(
        self, receiver: LokiReceiver, shippers: list[Loki], tmp_path: Path
    ) -> None:
        receiver.stop()
        spill = tmp_path / "loki.spill"
        first = Loki(receiver.url, spill_path=spill, batch_interval=0.05, backoff=0.05)
        for number in range(30):
            first.write(line_at(number, number))
        first.close(timeout=0.5)
        assert 30 == len(spill.read_bytes().splitlines())
        assert 0 == first.stats()["dropped"]

        receiver.start()
        second = loki(shippers, receiver.url, spill_path=spill)
        second.write(line_at(30, 30))
        assert second.flush(20)
        assert list(range(31)) == numbers(receiver.documents())

    def test_unsent_lines_without_spill_are_counted_dropped_at_close(
        self, receiver: LokiReceiver
    ) -> None:
        receiver.stop()
        shipper = Loki(receiver.url, batch_interval=0.05, backoff=0.05)
        for number in range(7):
            shipper.write(line_at(number, number))
        shipper.close(timeout=0.3)
        assert 7 == shipper.stats()["dropped"]
        shipper.write(line_at(8, 8))  # opens it again
        assert 1 == shipper.stats()["queued"]
        shipper.close(timeout=0.3)
        assert 8 == shipper.stats()["dropped"]

    def test_write_from_many_threads(self, receiver: LokiReceiver, shippers: list[Loki]) -> None:
        shipper = loki(shippers, receiver.url, batch_size=64)

        def produce(start: int) -> None:
            for number in range(start, start + 250):
                shipper.write(line_at(number, number))

        threads = [threading.Thread(target=produce, args=(n * 250,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert shipper.flush(30)
        assert list(range(1000)) == sorted(numbers(receiver.documents()))

    def test_write_never_raises(self, receiver: LokiReceiver, shippers: list[Loki]) -> None:
        shipper = loki(shippers, receiver.url)
        shipper.write("a text line, not JSON\n")
        shipper.write(b"\xff\xfe not utf-8\n")
        shipper.write(object())  # type: ignore[arg-type]
        assert shipper.flush(10)
        assert 3 == len(receiver.entries)


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


class TestLokiProcesses:
    def test_lines_are_shipped_at_normal_exit_without_close(self, receiver: LokiReceiver) -> None:
        result = _run(
            """
            import sys
            from tracelog.outputs import Loki
            shipper = Loki(sys.argv[1], batch_size=1000, batch_interval=3600)
            for n in range(500):
                shipper.write(b'{"level":"info","message":"m","number":%d}\\n' % n)
            """,
            receiver.url,
        )
        assert 0 == result.returncode, result.stderr
        assert list(range(500)) == sorted(numbers(receiver.documents()))

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_a_forked_child_ships_its_own_lines_and_nothing_twice(
        self, receiver: LokiReceiver
    ) -> None:
        result = _run(
            """
            import os, sys
            from tracelog.outputs import Loki
            shipper = Loki(sys.argv[1], batch_size=1000, batch_interval=3600)
            def line(n):
                return b'{"level":"info","message":"m","number":%d}\\n' % n
            for n in range(100):
                shipper.write(line(n))          # buffered in the parent at fork time
            pid = os.fork()
            if pid == 0:
                for n in range(1000, 1050):
                    shipper.write(line(n))
                ok = shipper.flush(20)
                shipper.close()
                os._exit(0 if ok and shipper.stats()["written"] == 50 else 3)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, status
            for n in range(100, 150):
                shipper.write(line(n))
            assert shipper.flush(20)
            assert shipper.stats()["written"] == 150, shipper.stats()
            """,
            receiver.url,
        )
        assert 0 == result.returncode, result.stderr
        counts = Counter(numbers(receiver.documents()))
        assert {*range(150), *range(1000, 1050)} == set(counts)
        assert {1} == set(counts.values())


def test_wait_until_is_bounded() -> None:
    assert not wait_until(lambda: False, timeout=0.05)


def test_lines_lost_at_exit_are_reported_within_the_close_timeout() -> None:
    # A retry notice came first: it must not hide the loss, and exit waits close_timeout only.
    script = """
        import socket, tracelog
        from tracelog.outputs import Loki
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        tracelog.configure(outputs=[Loki(f"http://127.0.0.1:{port}", close_timeout=1)])
        for i in range(50):
            tracelog.get_logger("x").info("hello", i=i)
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=60
    )
    assert 0 == done.returncode, done.stderr
    assert "retrying" in done.stderr
    assert "50 line(s) not shipped at close, dropped" in done.stderr


def test_at_exit_each_output_closes_with_its_own_time() -> None:
    import tracelog
    from tracelog.outputs import _lifecycle

    given: list[tuple[str, float | None]] = []

    class Output:
        level = format = schema = None

        def __init__(self, name: str, close_timeout: float | None) -> None:
            self.name = name
            if close_timeout is not None:
                self.close_timeout = close_timeout

        def write(self, line: bytes) -> None:
            pass

        def close(self, timeout: float | None = None) -> None:
            given.append((self.name, timeout))

    tracelog.configure(outputs=[Output("shipper", 12.0), Output("plain", None)])
    _lifecycle._at_exit()
    assert [("shipper", 12.0), ("plain", _lifecycle.EXIT_TIMEOUT)] == given
