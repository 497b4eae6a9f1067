"""The machinery the shippers share: buffer, batches, retries, spill file, line fields."""

from __future__ import annotations

import email.utils
import os
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

import tracelog
from _receivers import tracelog_lines, wait_until
from tracelog.outputs import Shipper
from tracelog.outputs.shipping._batch import Outcome, RetryableError, parse_level
from tracelog.outputs.shipping._http import auth_header, retry_after_seconds
from tracelog.outputs.shipping._line import parse_line, rfc3339_to_ns


class Recorder(Shipper):
    """A shipper whose 'network' is a list, with scripted failures."""

    name = "recorder"

    def __init__(self, script: list[object] | None = None, **options: object) -> None:
        self.batches: list[list[bytes]] = []
        self.script = list(script or [])
        self.gate = threading.Event()
        self.gate.set()
        options.setdefault("batch_interval", 0.02)
        options.setdefault("backoff", 0.01)
        options.setdefault("max_backoff", 0.05)
        super().__init__(**options)  # type: ignore[arg-type]

    def _ship(self, lines: list[bytes]) -> Outcome:
        self.gate.wait(10)
        step = self.script.pop(0) if self.script else None
        if isinstance(step, Exception):
            raise step
        if callable(step):
            return step(lines)  # type: ignore[no-any-return]
        self.batches.append(list(lines))
        return Outcome(shipped=len(lines))

    def shipped(self) -> list[bytes]:
        return [line for batch in self.batches for line in batch]


@pytest.fixture
def made() -> Iterator[list[Shipper]]:
    shippers: list[Shipper] = []
    yield shippers
    for shipper in shippers:
        shipper.close(timeout=1)


def recorder(made: list[Shipper], *script: object, **options: object) -> Recorder:
    shipper = Recorder(list(script), **options)
    made.append(shipper)
    return shipper


def lines(count: int) -> list[bytes]:
    return [b'{"n":%d}\n' % n for n in range(count)]


class TestShipper:
    def test_batches_by_size(self, made: list[Shipper]) -> None:
        shipper = recorder(made, batch_size=10, batch_interval=3600)
        for line in lines(30):
            shipper.write(line)
        assert shipper.flush(10)
        assert lines(30) == shipper.shipped()
        assert all(len(batch) <= 10 for batch in shipper.batches)

    def test_batches_by_time(self, made: list[Shipper]) -> None:
        shipper = recorder(made, batch_size=1000, batch_interval=0.01)
        shipper.write(b"x\n")
        assert wait_until(lambda: shipper.batches)
        assert [[b"x\n"]] == shipper.batches

    def test_the_buffer_holds_compact_lines(self, made: list[Shipper]) -> None:
        shipper = recorder(made, batch_size=1000, batch_interval=3600)
        count = 500
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for n in range(count):
                shipper.write(orjson.dumps({"n": n}, option=orjson.OPT_APPEND_NEWLINE))
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()

        assert held < count * 1024  # orjson's own bytes keep a 4 KiB buffer each
        assert shipper.flush(10)
        assert count == len(shipper.shipped())

    def test_flush_on_nothing_is_true_at_once(self, made: list[Shipper]) -> None:
        assert recorder(made).flush(0)

    def test_flush_timeout_returns_false_while_the_server_hangs(self, made: list[Shipper]) -> None:
        shipper = recorder(made)
        shipper.gate.clear()
        shipper.write(b"x\n")
        assert not shipper.flush(0.1)
        shipper.gate.set()
        assert shipper.flush(10)

    def test_connection_errors_are_retried_until_delivered(self, made: list[Shipper]) -> None:
        shipper = recorder(made, ConnectionRefusedError(), TimeoutError(), None)
        shipper.write(b"x\n")
        assert shipper.flush(10)
        assert [b"x\n"] == shipper.shipped()
        assert 2 == shipper.stats()["retried"]

    def test_retry_after_is_honoured(self, made: list[Shipper]) -> None:
        shipper = recorder(made, RetryableError("HTTP 429", retry_after=0.05), None)
        shipper.write(b"x\n")
        assert shipper.flush(10)
        assert 1 == shipper.stats()["retried"]

    def test_partial_outcome_retries_only_the_rest(self, made: list[Shipper]) -> None:
        shipper = recorder(
            made,
            lambda batch: Outcome(shipped=1, failed=1, retry=batch[2:]),
            batch_size=4,
            batch_interval=3600,
        )
        for line in lines(4):
            shipper.write(line)
        assert shipper.flush(10)
        assert lines(4)[2:] == shipper.shipped()
        stats = shipper.stats()
        assert (3, 1, 1, 0) == (
            stats["written"],
            stats["failed"],
            stats["retried"],
            stats["queued"],
        )

    def test_a_bug_in_a_shipper_is_reported_not_raised(
        self, made: list[Shipper], capfd: pytest.CaptureFixture[str]
    ) -> None:
        shipper = recorder(made, ValueError("bug"))
        shipper.write(b"x\n")
        assert shipper.flush(10)
        shipper.write(b"y\n")
        assert shipper.flush(10)
        assert [b"y\n"] == shipper.shipped()
        assert 1 == shipper.stats()["failed"]
        assert "ValueError: bug" in capfd.readouterr().err

    def test_a_write_after_close_opens_it_again(self, made: list[Shipper], tmp_path: Path) -> None:
        shipper = recorder(made, spill_path=tmp_path / "s")
        shipper.write(b"a\n")
        shipper.close(5)
        shipper.write(b"b\n")
        assert shipper.flush(10)
        assert [b"a\n", b"b\n"] == shipper.shipped()
        assert 0 == shipper.stats()["dropped"]

    def test_close_twice_is_harmless(self, made: list[Shipper]) -> None:
        shipper = recorder(made)
        shipper.write(b"x\n")
        shipper.close(5)
        shipper.close(5)
        assert [b"x\n"] == shipper.shipped()

    def test_bad_options_are_refused(self) -> None:
        with pytest.raises(ValueError, match="at least 1"):
            Recorder(batch_size=0)
        with pytest.raises(ValueError, match="level="):
            Recorder(level="loud")

    @pytest.mark.parametrize(
        ("given", "expected"),
        [(None, None), (10, 10), ("DEBUG", 10), ("warn", 30), ("error", 40), ("25", 25)],
    )
    def test_levels(self, given: int | str | None, expected: int | None) -> None:
        assert expected == parse_level(given)


class TestSpill:
    def test_order_holds_across_the_spill(self, made: list[Shipper], tmp_path: Path) -> None:
        shipper = recorder(made, queue_size=5, batch_size=5, spill_path=tmp_path / "s")
        shipper.gate.clear()
        for line in lines(40):
            shipper.write(line)
        shipper.gate.set()
        assert shipper.flush(10)
        for line in lines(40)[:3]:
            shipper.write(line)
        assert shipper.flush(10)
        assert lines(40) + lines(3) == shipper.shipped()
        assert shipper.stats()["spilled"] >= 30

    def test_a_torn_last_line_from_a_crash_is_ignored(
        self, made: list[Shipper], tmp_path: Path
    ) -> None:
        spill = tmp_path / "s"
        spill.write_bytes(b'{"n":0}\n{"n":1}\n{"n":')
        shipper = recorder(made, spill_path=spill)
        shipper.write(b'{"n":2}\n')
        assert shipper.flush(10)
        assert [b'{"n":0}\n', b'{"n":1}\n', b'{"n":2}\n'] == shipper.shipped()

    def test_a_second_process_spills_beside_and_its_file_is_taken_over(
        self, made: list[Shipper], tmp_path: Path
    ) -> None:
        spill = tmp_path / "s"
        owner = Recorder(spill_path=spill)
        refused = [ConnectionRefusedError()] * 1000
        other = Recorder(refused, spill_path=spill, backoff=0.01, max_backoff=0.01)
        assert f"{spill}.{os.getpid()}" == other._spill.path  # type: ignore[union-attr]
        for line in lines(5):
            other.write(line)
        other.close(0.2)
        owner.close(1)
        assert 5 == len(Path(f"{spill}.{os.getpid()}").read_bytes().splitlines())

        successor = recorder(made, spill_path=spill)
        assert successor.flush(10)
        assert lines(5) == successor.shipped()
        assert not Path(f"{spill}.{os.getpid()}").exists()

    def test_an_empty_spill_file_is_removed_at_close(self, tmp_path: Path) -> None:
        spill = tmp_path / "s"
        shipper = Recorder(spill_path=spill, queue_size=1, batch_interval=0.01)
        for line in lines(5):
            shipper.write(line)
        assert shipper.flush(10)
        shipper.close(5)
        assert not spill.exists()


class TestRetryAfter:
    def test_seconds(self) -> None:
        assert 7.0 == retry_after_seconds("7")

    def test_http_date(self) -> None:
        when = email.utils.formatdate(1_000_030, usegmt=True)
        assert 30.0 == retry_after_seconds(when, now=1_000_000)

    def test_bounded_and_garbage(self) -> None:
        assert 300.0 == retry_after_seconds("999999")
        assert retry_after_seconds("soon") is None
        assert retry_after_seconds(None) is None

    def test_auth_header(self) -> None:
        assert "Basic dTpw" == auth_header(("u", "p"))
        assert "Bearer t" == auth_header("t")
        assert auth_header(None) is None


class TestLineFields:
    @pytest.mark.parametrize("schema", ["default", "ecs", "otel", "gcp"])
    def test_every_schema_is_read(self, schema: str) -> None:
        with_trace = tracelog_lines(1, schema=schema)[0]
        fields = parse_line(with_trace)
        assert fields.timestamp is not None
        assert abs(fields.timestamp - time.time_ns()) < 3600 * 10**9
        assert "info" == fields.level
        assert "shop" == fields.service
        assert "shop.orders" == fields.logger
        assert fields.trace_id is not None
        assert 32 == len(fields.trace_id.split("/")[-1])
        assert fields.span_id is not None
        assert 16 == len(fields.span_id)

    def test_not_json_yields_empty_fields(self) -> None:
        fields = parse_line(b"plain text")
        assert (None, None, None) == (fields.document, fields.timestamp, fields.level)

    @pytest.mark.parametrize(
        ("text", "nanos"),
        [
            ("1970-01-01T00:00:00Z", 0),
            ("1970-01-01T00:00:01.5Z", 1_500_000_000),
            ("1970-01-01T01:00:00+01:00", 0),
            ("1970-01-01T00:00:00.123456789Z", 123_456_789),
            ("2026-11-25T07:40:34.123456Z", 1_795_592_434_123_456_000),
        ],
    )
    def test_rfc3339(self, text: str, nanos: int) -> None:
        assert nanos == rfc3339_to_ns(text)

    @pytest.mark.parametrize("text", ["yesterday", "2026-13-01T00:00:00Z", ""])
    def test_invalid_timestamps(self, text: str) -> None:
        assert rfc3339_to_ns(text) is None


@pytest.mark.skipif(not hasattr(tracelog, "flush"), reason="configure(outputs=...) not available")
class TestThroughConfigure:
    def test_outputs_receive_lines_in_their_schema(self) -> None:
        from _receivers import ElasticsearchReceiver, LokiReceiver

        with LokiReceiver() as loki_rx, ElasticsearchReceiver() as es_rx:
            outputs = [
                tracelog.outputs.Loki(loki_rx.url, labels={"env": "test"}),  # type: ignore[attr-defined]
                tracelog.outputs.Elasticsearch(es_rx.url, index="logs-shop-default"),  # type: ignore[attr-defined]
            ]
            tracelog.configure(service="shop", outputs=outputs)  # type: ignore[call-arg]
            log = tracelog.get_logger("shop.orders")
            with tracelog.trace() as ctx:
                log.info("paid", order_id=7)
                log.debug("hidden")
            assert tracelog.flush(10)  # type: ignore[attr-defined]
            stats = tracelog.stats()  # type: ignore[attr-defined]
            tracelog.reset()

            [(labels, _, _line, metadata)] = loki_rx.entries
            assert {"env": "test", "service": "shop", "level": "info"} == labels
            assert ctx.trace_id == metadata["trace_id"]
            [document] = es_rx.documents["logs-shop-default"]
            assert ctx.trace_id == document["trace"]["id"]
            assert "@timestamp" in document
            assert any(s.get("written") == 1 for s in stats.values())

    def test_lines_logged_before_a_normal_exit_are_shipped(self) -> None:
        import subprocess
        import sys
        import textwrap

        from _receivers import LokiReceiver, numbers

        script = """
            import sys, threading, tracelog
            from tracelog.outputs import Loki
            tracelog.configure(service="shop", outputs=[Loki(sys.argv[1], batch_interval=3600)])
            log = tracelog.get_logger("shop")
            def late():
                for n in range(100, 200):
                    log.info("late", number=n)
            for n in range(100):
                log.info("early", number=n)
            threading.Thread(target=late).start()   # non-daemon: still logging at exit
        """
        with LokiReceiver() as receiver:
            result = subprocess.run(
                [sys.executable, "-c", textwrap.dedent(script), receiver.url],
                capture_output=True,
                text=True,
                timeout=60,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
                check=False,
            )
            assert 0 == result.returncode, result.stderr
            assert list(range(200)) == sorted(numbers(receiver.documents()))


class TestBatchingOptions:
    """One option object for what every shipper shares; the old names still work, warned."""

    def test_one_object_or_its_fields_as_keywords(self) -> None:
        from tracelog.outputs import Batching, Loki

        batching = Batching(batch_size=10, queue_size=50, close_timeout=2.0)
        shipper = Loki("http://127.0.0.1:9", batching=batching, batch_size=20)
        try:
            assert (20, 50, 2.0) == (
                shipper.batch_size,
                shipper.queue_size,
                shipper.close_timeout,
            )
        finally:
            shipper.close(0)

    def test_old_names_warn_and_still_apply(self) -> None:
        from tracelog.outputs import Loki

        with pytest.warns(DeprecationWarning, match="queue_size"):
            shipper = Loki("http://127.0.0.1:9", max_buffer=7)
        try:
            assert 7 == shipper.queue_size == shipper.max_buffer
        finally:
            shipper.close(0)
        with pytest.warns(DeprecationWarning, match="request_timeout"):
            Loki("http://127.0.0.1:9", timeout=1.5).close(0)

    def test_an_unknown_keyword_is_an_error_naming_it(self) -> None:
        from tracelog.outputs import Elasticsearch

        with pytest.raises(TypeError, match="batchsize"):
            Elasticsearch("http://127.0.0.1:9", batchsize=10)

    def test_bad_values_are_refused(self) -> None:
        from tracelog.outputs import Batching

        with pytest.raises(ValueError, match="queue_size"):
            Batching(queue_size=0)
