"""The shippers under faults nobody planned for: a full disk, a sender that fails, refused items.

Every test checks the books: ``accepted == written + dropped + failed +
spill_pending + queued``, and what the receiver holds is what ``written`` says.
"""

from __future__ import annotations

import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from _disks import small_disk
from _receivers import ElasticsearchReceiver, LokiReceiver, numbers
from tracelog.outputs import Loki, Shipper
from tracelog.outputs.shipping._batch import Outcome
from tracelog.outputs.shipping.elasticsearch import Elasticsearch


def balanced(stats: dict[str, int]) -> bool:
    parts = ("written", "dropped", "failed", "spill_pending", "queued")
    return stats["accepted"] == sum(stats[part] for part in parts)


def ecs_line(number: int, message: str | None = None) -> bytes:
    document = {
        "@timestamp": "2026-11-25T07:40:34.123456Z",
        "log.level": "info",
        "message": message or f"event {number}",
        "number": number,
    }
    return orjson.dumps(document) + b"\n"


SPILL_ON_A_FULL_DISK = """
import json
import orjson
from tracelog.outputs import Loki

def line(n):
    stamp = "2026-11-25T07:%02d:%02d.000000Z" % (n // 60 % 60, n % 60)
    return orjson.dumps({"timestamp": stamp, "level": "info", "logger": "shop",
                         "message": "event %d" % n, "service": "shop", "number": n}) + b"\\n"

shipper = Loki(sys.argv[3], queue_size=100, batch_size=50, batch_interval=0.05, backoff=0.05,
               max_backoff=0.2, spill_path=os.path.join(DISK, "loki.spill"))
fill()
for n in range(3000):
    shipper.write(line(n))
print(json.dumps(shipper.stats()), flush=True)
sys.stdin.readline()  # the server is back
recover()
for n in range(3000, 3200):
    shipper.write(line(n))
flushed = shipper.flush(60)
print(json.dumps({"flushed": flushed, **shipper.stats()}), flush=True)
shipper.close(5)
"""


class TestSpillOnAFullDisk:
    def test_lines_the_disk_refuses_are_dropped_and_counted_and_shipping_goes_on(
        self, tmp_path: Path
    ) -> None:
        receiver = LokiReceiver()
        receiver.stop()
        try:
            with small_disk(tmp_path) as disk:
                child = disk.popen(SPILL_ON_A_FULL_DISK, receiver.url)
                assert child.stdout is not None and child.stdin is not None
                during = orjson.loads(child.stdout.readline() or b"{}")
                receiver.start()
                child.stdin.write("\n")
                child.stdin.flush()
                after = orjson.loads(child.stdout.readline() or b"{}")
                _, err = child.communicate(timeout=60)
            assert during and after, err
            assert 3000 == during["accepted"]
            assert balanced(during), during
            assert during["dropped"] > 0  # the disk could not hold them all
            assert after["flushed"], (after, err)
            assert balanced(after), after
            shipped = numbers(receiver.documents())
            assert after["written"] == len(shipped) == len(set(shipped))
            assert 3200 == after["written"] + after["dropped"]
            assert set(range(3000, 3200)) <= set(shipped)  # after recovery, nothing is lost
            assert "could not keep" in err
        finally:
            receiver.stop()


class TestSpillThatCannotBeWritten:
    def test_lines_it_cannot_keep_are_dropped_and_memory_carries_on(self, tmp_path: Path) -> None:
        receiver = LokiReceiver()
        receiver.stop()
        folder = tmp_path / "gone"
        folder.mkdir()
        shipper = Loki(
            receiver.url, queue_size=10, batch_size=10, backoff=0.05, spill_path=folder / "s"
        )
        try:
            shutil.rmtree(folder)  # the spill file can no longer be opened (as on EIO, EACCES)
            for number in range(500):
                shipper.write(b'{"message":"m","number":%d}\n' % number)
            during = shipper.stats()
            assert during["dropped"] > 0  # whole chunks the file refused; the last is in memory
            assert balanced(during)
            receiver.start()
            assert shipper.flush(30)
            after = shipper.stats()
            assert balanced(after)
            assert after["written"] == len(numbers(receiver.documents())) > 0
            assert 500 == after["written"] + after["dropped"]
        finally:
            shipper.close(1)
            receiver.stop()


class Flaky(Shipper):
    """A shipper whose sender thread fails once, outside any request, on its first batch."""

    name = "flaky"

    def __init__(self, **options: object) -> None:
        self.shipped: list[bytes] = []
        self.failures = 1
        super().__init__(batch_interval=0.02, backoff=0.01, max_backoff=0.05, **options)  # type: ignore[arg-type]

    def _take(self) -> list[bytes]:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("a bug in the sender")
        return super()._take()

    def _ship(self, lines: list[bytes]) -> Outcome:
        self.shipped.extend(lines)
        return Outcome(shipped=len(lines))


class TestSenderThread:
    def test_a_sender_that_fails_starts_over_and_keeps_shipping(
        self, capfd: pytest.CaptureFixture[str]
    ) -> None:
        shipper = Flaky()
        try:
            for number in range(50):
                shipper.write(b"%d\n" % number)
            assert shipper.flush(10)
            stats = shipper.stats()
            assert [b"%d\n" % n for n in range(50)] == shipper.shipped
            assert (50, 1) == (stats["written"], stats["restarts"])
            assert balanced(stats)
            assert "sender failed" in capfd.readouterr().err
        finally:
            shipper.close(1)

    def test_a_dead_sender_thread_is_started_again(self) -> None:
        shipper = Flaky()
        shipper.failures = 0
        try:
            shipper.write(b"a\n")
            assert shipper.flush(10)
            thread = shipper._thread
            assert thread is not None
            dead = threading.Thread(target=lambda: None)
            dead.start()
            dead.join()
            shipper._thread = dead  # as if it had died of something it could not catch
            shipper.write(b"b\n")
            assert shipper.flush(10)
            assert [b"a\n", b"b\n"] == shipper.shipped
        finally:
            shipper.close(1)


@pytest.fixture
def es() -> Iterator[ElasticsearchReceiver]:
    with ElasticsearchReceiver() as server:
        yield server


class TestElasticsearchUnderRefusals:
    def test_after_an_outage_refused_items_are_retried_promptly(
        self, es: ElasticsearchReceiver
    ) -> None:
        # Four whole-request 429s (asked to retry at once), then items refused one by one: a
        # backoff that still counted the outage would wait 8 to 16 s and miss the deadline.
        es.fail(429, times=4, retry_after=0)
        es.reject_items(60)
        shipper = Elasticsearch(
            es.url, index="logs-shop-default", batch_size=200, batch_interval=0.05, backoff=1.0
        )
        for number in range(200):
            shipper.write(ecs_line(number))
        shipper.close(timeout=6)
        stats = shipper.stats()
        assert list(range(200)) == sorted(numbers(es.all_documents()))
        assert (200, 0) == (stats["written"], stats["dropped"])
        assert balanced(stats)

    def test_closing_never_waits_past_its_deadline(self, es: ElasticsearchReceiver) -> None:
        es.reject_items(10**6)  # answering, refusing every item, forever
        shipper = Elasticsearch(es.url, index="logs-shop-default", batch_interval=0.05)
        for number in range(20):
            shipper.write(ecs_line(number))
        shipper.close(timeout=1)
        stats = shipper.stats()
        assert shipper._thread is None  # it stopped: close() did not give up on a stuck thread
        assert (0, 20) == (stats["written"], stats["dropped"])
        assert balanced(stats)

    def test_a_lost_answer_is_sent_again_under_the_same_ids(
        self, es: ElasticsearchReceiver
    ) -> None:
        es.lose_answers(1)
        shipper = Elasticsearch(
            es.url, index="logs-shop-default", batch_size=4, batch_interval=60, backoff=0.05
        )
        try:
            for number in (1, 1, 2, 2):  # identical lines are documents of their own
                shipper.write(ecs_line(number, "same"))
            assert shipper.flush(20)
            assert Counter({1: 2, 2: 2}) == Counter(numbers(es.all_documents()))
            stats = shipper.stats()
            assert (4, 0, 1) == (stats["written"], stats["failed"], stats["retried"])
        finally:
            shipper.close(1)
