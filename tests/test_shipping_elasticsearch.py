"""The Elasticsearch shipper against a strict local receiver of the bulk API."""

from __future__ import annotations

import base64
import http.client
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from _receivers import ElasticsearchReceiver, numbers, tracelog_lines
from tracelog import _faults
from tracelog.outputs.shipping.elasticsearch import Elasticsearch, dataset_index


@pytest.fixture
def receiver() -> Iterator[ElasticsearchReceiver]:
    with ElasticsearchReceiver() as server:
        yield server


@pytest.fixture
def shippers() -> Iterator[list[Elasticsearch]]:
    made: list[Elasticsearch] = []
    yield made
    for shipper in made:
        shipper.close(timeout=2)


def elasticsearch(shippers: list[Elasticsearch], url: str, **options: object) -> Elasticsearch:
    options.setdefault("batch_interval", 0.05)
    options.setdefault("backoff", 0.05)
    options.setdefault("max_backoff", 0.2)
    shipper = Elasticsearch(url, **options)  # type: ignore[arg-type]
    shippers.append(shipper)
    return shipper


def ecs_line(number: int, **extra: object) -> bytes:
    document = {
        "@timestamp": "2026-11-25T07:40:34.123456Z",
        "log.level": "info",
        "message": f"event {number}",
        "ecs.version": "8.11.0",
        "trace": {"id": "4bf92f3577b34da6a3ce929d0e0e4736"},
        "service": {"name": "shop"},
        "number": number,
        **extra,
    }
    return orjson.dumps(document) + b"\n"


def post(
    receiver: ElasticsearchReceiver, body: bytes, content_type: str = "application/x-ndjson"
) -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)
    try:
        conn.request("POST", "/_bulk", body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        return response.status, orjson.loads(response.read())
    finally:
        conn.close()


class TestElasticsearchReceiver:
    """The receiver refuses what Elasticsearch refuses."""

    def test_answers_per_item(self, receiver: ElasticsearchReceiver) -> None:
        body = (
            b'{"create":{"_index":"logs-shop-default"}}\n{"@timestamp":"2026-01-01T00:00:00Z","n":1}\n'
            b'{"create":{"_index":"logs-shop-default"}}\n{"@timestamp":"2026-01-01T00:00:00Z","n":"x"}\n'
            b'{"index":{"_index":"logs-shop-default"}}\n{"@timestamp":"2026-01-01T00:00:00Z","n":2}\n'
            b'{"create":{"_index":"logs-shop-default"}}\n{"n":3}\n'
        )
        status, answer = post(receiver, body)
        assert 200 == status
        assert answer["errors"] is True
        items = [next(iter(item.values())) for item in answer["items"]]  # type: ignore[attr-defined]
        assert [201, 400, 400, 400] == [item["status"] for item in items]
        assert "document_parsing_exception" == items[1]["error"]["type"]
        assert "op_type of create" in items[2]["error"]["reason"]
        assert "[@timestamp] is missing" in items[3]["error"]["reason"]

    @pytest.mark.parametrize(
        ("body", "content_type", "status"),
        [
            (b'{"create":{"_index":"i"}}\n{"a":1}', "application/x-ndjson", 400),
            (b'{"create":{"_index":"i"}}\n{"a":1}\n', "text/plain", 406),
            (b'{"create":{"_index":"i"}\n{"a":1}\n', "application/x-ndjson", 400),
            (b'{"explode":{"_index":"i"}}\n{"a":1}\n', "application/x-ndjson", 400),
            (b'{"create":{}}\n{"a":1}\n', "application/x-ndjson", 400),
            (b'{"create":{"_index":"i"}}\n', "application/x-ndjson", 400),
            (b'{"create":{"_index":"i"}}\n[1,2]\n', "application/x-ndjson", 400),
            (b"", "application/x-ndjson", 400),
        ],
    )
    def test_refuses_malformed_requests(
        self, receiver: ElasticsearchReceiver, body: bytes, content_type: str, status: int
    ) -> None:
        assert status == post(receiver, body, content_type)[0]
        assert [] == receiver.all_documents()


class TestElasticsearch:
    def test_bulk_creates_ecs_documents_in_a_data_stream(
        self, receiver: ElasticsearchReceiver, shippers: list[Elasticsearch]
    ) -> None:
        shipper = elasticsearch(shippers, receiver.url, index="logs-shop-default")
        lines = tracelog_lines(5, schema="ecs")
        for line in lines:
            shipper.write(line)
        assert shipper.flush(10)
        assert [orjson.loads(line) for line in lines] == receiver.documents["logs-shop-default"]
        assert receiver.documents["logs-shop-default"][0]["trace"]["id"]
        assert "ecs" == shipper.schema
        assert 5 == shipper.stats()["written"]

    def test_default_index_follows_the_service(
        self, receiver: ElasticsearchReceiver, shippers: list[Elasticsearch]
    ) -> None:
        shipper = elasticsearch(shippers, receiver.url)
        shipper.write(tracelog_lines(1, schema="ecs", service="Shop API")[0])
        shipper.write(tracelog_lines(1, schema="ecs", service="billing")[0])
        assert shipper.flush(10)
        assert {"logs-shop_api-default", "logs-billing-default"} == set(receiver.documents)

    def test_dataset_index_is_a_valid_data_stream_name(self) -> None:
        assert "logs-generic-default" == dataset_index(None)
        assert "logs-a_b.c-default" == dataset_index("A-B.c")

    def test_other_schemas_get_a_timestamp_for_the_data_stream(
        self, receiver: ElasticsearchReceiver, shippers: list[Elasticsearch]
    ) -> None:
        shipper = elasticsearch(shippers, receiver.url, index="logs-shop-default", schema=None)
        line = tracelog_lines(1, schema="default")[0]
        shipper.write(line)
        assert shipper.flush(10)
        [document] = receiver.documents["logs-shop-default"]
        assert document["@timestamp"] == orjson.loads(line)["timestamp"]

    def test_a_mapping_error_drops_that_document_and_keeps_the_rest(
        self,
        receiver: ElasticsearchReceiver,
        shippers: list[Elasticsearch],
        capfd: pytest.CaptureFixture[str],
    ) -> None:
        shipper = elasticsearch(shippers, receiver.url, index="logs-shop-default", batch_size=10)
        shipper.write(ecs_line(0, order_id=17))
        assert shipper.flush(10)
        for number in range(1, 10):
            extra = {"order_id": "not-a-number"} if number == 5 else {"order_id": number}
            shipper.write(ecs_line(number, **extra))
        assert shipper.flush(10)

        assert [0, 1, 2, 3, 4, 6, 7, 8, 9] == numbers(receiver.all_documents())
        stats = shipper.stats()
        assert (9, 1, 0) == (stats["written"], stats["failed"], stats["retried"])
        assert "document_parsing_exception" in capfd.readouterr().err

    def test_items_refused_with_429_are_sent_again(
        self, receiver: ElasticsearchReceiver, shippers: list[Elasticsearch]
    ) -> None:
        shipper = elasticsearch(shippers, receiver.url, index="logs-shop-default", batch_size=10)
        receiver.reject_items(3, 429)
        for number in range(10):
            shipper.write(ecs_line(number))
        assert shipper.flush(20)
        counts = Counter(numbers(receiver.all_documents()))
        assert list(range(10)) == sorted(counts)
        assert {1} == set(counts.values())
        assert 1 == shipper.stats()["retried"]

    @pytest.mark.parametrize("status", [429, 500, 503])
    def test_a_refused_request_is_retried(
        self, receiver: ElasticsearchReceiver, shippers: list[Elasticsearch], status: int
    ) -> None:
        receiver.fail(status, retry_after=0)
        shipper = elasticsearch(shippers, receiver.url, index="logs-shop-default")
        shipper.write(ecs_line(0))
        assert shipper.flush(20)
        assert [0] == numbers(receiver.all_documents())
        assert 1 == shipper.stats()["retried"]

    def test_a_request_refused_for_good_is_dropped_and_counted(
        self, receiver: ElasticsearchReceiver, shippers: list[Elasticsearch]
    ) -> None:
        receiver.fail(403)
        shipper = elasticsearch(shippers, receiver.url, index="logs-shop-default")
        shipper.write(ecs_line(0))
        assert shipper.flush(10)
        assert 1 == shipper.stats()["failed"]

    def test_a_request_too_large_is_split(
        self, receiver: ElasticsearchReceiver, shippers: list[Elasticsearch]
    ) -> None:
        receiver.fail(413)
        shipper = elasticsearch(
            shippers, receiver.url, index="logs-shop-default", batch_size=8, batch_interval=60
        )
        for number in range(8):
            shipper.write(ecs_line(number))
        assert shipper.flush(10)
        assert list(range(8)) == numbers(receiver.all_documents())

    def test_a_request_retried_after_its_answer_was_lost_indexes_nothing_twice(
        self, receiver: ElasticsearchReceiver, shippers: list[Elasticsearch]
    ) -> None:
        receiver.lose_answers(1)
        shipper = elasticsearch(
            shippers, receiver.url, index="logs-shop-default", batch_size=10, batch_interval=60
        )
        for number in range(10):
            shipper.write(ecs_line(number))
        assert shipper.flush(20)
        assert list(range(10)) == numbers(receiver.all_documents())
        stats = shipper.stats()
        assert (10, 0, 1) == (stats["written"], stats["failed"], stats["retried"])

    def test_ids_follow_the_line_and_its_position(self) -> None:
        shipper = Elasticsearch("http://127.0.0.1:9", index="logs-shop-default")
        first, second = shipper.body([ecs_line(1), ecs_line(1)]).splitlines()[::2]
        assert first != second
        assert b'"_id":"' in first
        plain = Elasticsearch("http://127.0.0.1:9", index="i", idempotent=False)
        assert b'{"create":{"_index":"i"}}\n' == plain.body([ecs_line(1)]).splitlines(True)[0]
        shipper.close(0)
        plain.close(0)

    def test_api_key_auth(self, shippers: list[Elasticsearch]) -> None:
        key = base64.b64encode(b"id:secret").decode()
        with ElasticsearchReceiver(expect_headers={"Authorization": f"ApiKey {key}"}) as receiver:
            shipper = elasticsearch(shippers, receiver.url, api_key=("id", "secret"))
            shipper.write(ecs_line(0))
            assert shipper.flush(10)
            assert 1 == len(receiver.all_documents())

    def test_basic_auth_and_gzip(self, shippers: list[Elasticsearch]) -> None:
        basic = "Basic " + base64.b64encode(b"elastic:pw").decode()
        expected = {"Authorization": basic, "Content-Encoding": "gzip"}
        with ElasticsearchReceiver(expect_headers=expected) as receiver:
            shipper = elasticsearch(shippers, receiver.url, auth=("elastic", "pw"), compress=True)
            shipper.write(ecs_line(0))
            assert shipper.flush(10)
            assert 1 == len(receiver.all_documents())

    def test_no_line_lost_across_a_five_second_outage(
        self, receiver: ElasticsearchReceiver, shippers: list[Elasticsearch]
    ) -> None:
        shipper = elasticsearch(
            shippers, receiver.url, index="logs-shop-default", batch_size=50, queue_size=100_000
        )
        receiver.stop()
        end = time.monotonic() + 5
        written = 0
        while time.monotonic() < end and written < 900:
            shipper.write(ecs_line(written))
            written += 1
            time.sleep(0.005)
        receiver.start()
        for number in range(written, 1000):
            shipper.write(ecs_line(number))
        assert shipper.flush(30)
        counts = Counter(numbers(receiver.all_documents()))
        assert list(range(1000)) == sorted(counts)
        assert {1} == set(counts.values())
        assert shipper.stats()["retried"] >= 1

    def test_spills_when_full_and_resends(
        self, receiver: ElasticsearchReceiver, shippers: list[Elasticsearch], tmp_path: Path
    ) -> None:
        receiver.stop()
        shipper = elasticsearch(
            shippers,
            receiver.url,
            index="logs-shop-default",
            queue_size=10,
            batch_size=10,
            spill_path=tmp_path / "es.spill",
        )
        for number in range(60):
            shipper.write(ecs_line(number))
        assert shipper.stats()["spilled"] >= 40
        receiver.start()
        assert shipper.flush(30)
        assert list(range(60)) == numbers(receiver.all_documents())

    def test_index_names_are_checked(self) -> None:
        with pytest.raises(ValueError, match="lowercase"):
            Elasticsearch("http://127.0.0.1:9", index="Logs-Shop")
        with pytest.raises(ValueError, match="not both"):
            Elasticsearch("http://127.0.0.1:9", auth=("a", "b"), api_key="k")


def test_lines_are_indexed_at_normal_exit(receiver: ElasticsearchReceiver) -> None:
    script = """
        import sys
        from tracelog.outputs import Elasticsearch
        shipper = Elasticsearch(sys.argv[1], index="logs-shop-default", batch_interval=3600)
        for n in range(300):
            shipper.write(b'{"@timestamp":"2026-11-25T07:40:34Z","message":"m","number":%d}\\n' % n)
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), receiver.url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        check=False,
    )
    assert 0 == result.returncode, result.stderr
    assert list(range(300)) == sorted(numbers(receiver.all_documents()))


class TestDocuments:
    """What goes in a bulk request for odd lines, and what an odd answer means."""

    @pytest.fixture
    def shipper(self) -> Iterator[Elasticsearch]:
        shipper = Elasticsearch("http://127.0.0.1:9", index="logs-x-default")
        yield shipper
        shipper.close(0)

    def test_a_line_that_is_not_json_gets_a_timestamp(self, shipper: Elasticsearch) -> None:
        _, document = shipper._document(b"plain text line")
        parsed = orjson.loads(document)
        assert "plain text line" == parsed["message"]
        assert str(parsed["@timestamp"]).endswith("Z")

    def test_a_json_line_with_a_bad_byte_keeps_its_fields(self, shipper: Elasticsearch) -> None:
        line = b'{"message":"\xff bad","order":7,"@timestamp":"2026-11-25T07:40:34Z"}'
        parsed = orjson.loads(shipper._document(line)[1])
        assert ("\ufffd bad", 7, "2026-11-25T07:40:34Z") == (
            parsed["message"],
            parsed["order"],
            parsed["@timestamp"],
        )

    def test_errors_with_items_that_do_not_match_are_sent_again(
        self, shipper: Elasticsearch
    ) -> None:
        lines = [b'{"n":1}', b'{"n":2}', b'{"n":3}']
        outcome = shipper._items(lines, b'{"errors":true,"items":[]}', None)
        assert (0, lines) == (outcome.shipped, outcome.retry)
        shipper.idempotent = False  # without content-derived ids, sending again could duplicate
        before = _faults.counts().get("shipping: lines lost", 0)
        outcome = shipper._items(lines, b'{"errors":true,"items":[]}', None)
        assert 3 == outcome.shipped
        assert before + 1 == _faults.counts()["shipping: lines lost"]
