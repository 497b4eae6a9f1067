"""``--loki`` and ``--elasticsearch``: what the shippers push, the command reads back.

Both servers are the strict local receivers of tests/_query_receivers.py (no live Loki or
Elasticsearch): the shippers push into them, and ``tracelog`` asks them through the documented
query APIs.
"""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

import tracelog
from _query_receivers import ElasticsearchQueryReceiver, LokiQueryReceiver, parse_logql
from tracelog._cli import server, sources
from tracelog._cli.elasticsearch import ElasticsearchSource
from tracelog._cli.loki import LokiSource
from tracelog.outputs import Elasticsearch, Loki

TRACE_A = "abcd1234" + "1" * 24
TRACE_B = "abcd1234" + "2" * 24
TRACE_C = "0f0f0f0f" + "3" * 24


def make_lines(schema: str = "default", service: str = "shop") -> list[bytes]:
    """Three real traces from tracelog's pipeline; TRACE_A fails with an exception."""
    buffer = io.BytesIO()
    tracelog.configure(stream=buffer, service=service, schema=schema)
    try:
        log = tracelog.get_logger(f"{service}.checkout")
        for trace_id in (TRACE_A, TRACE_B, TRACE_C):
            with tracelog.trace(trace_id=trace_id):
                log.info("checkout started", order_id=7)
                with tracelog.span("charge card"):
                    log.info("charging", amount_cents=1999)
                    if trace_id == TRACE_A:
                        try:
                            raise ValueError("card declined")
                        except ValueError:
                            log.exception("charge failed")
                log.info("done", duration_ms=12.5)
    finally:
        tracelog.reset()
    return buffer.getvalue().splitlines(keepends=True)


def ship(output: Loki | Elasticsearch, lines: list[bytes]) -> None:
    try:
        for line in lines:
            output.write(line)
        assert output.flush(10)
    finally:
        output.close(timeout=5)


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracelog", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"},
    )


@pytest.fixture
def loki() -> Iterator[LokiQueryReceiver]:
    with LokiQueryReceiver() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def es() -> Iterator[ElasticsearchQueryReceiver]:
    with ElasticsearchQueryReceiver() as server:
        yield server  # type: ignore[misc]


def file_of(tmp_path: Path, lines: list[bytes], name: str = "app.log") -> str:
    path = tmp_path / name
    path.write_bytes(b"".join(lines))
    return str(path)


class TestLokiSource:
    @pytest.mark.parametrize("schema", ["default", "otel", "ecs"])
    def test_show_reads_back_what_the_shipper_pushed(
        self, loki: LokiQueryReceiver, tmp_path: Path, schema: str
    ) -> None:
        lines = make_lines(schema)
        ship(Loki(loki.url, batch_interval=0.05), lines)
        from_file = run("show", TRACE_A, file_of(tmp_path, lines))
        from_loki = run("show", TRACE_A, "--loki", loki.url)
        assert 0 == from_loki.returncode, from_loki.stderr
        assert from_file.stdout == from_loki.stdout
        assert "charge failed" in from_loki.stdout
        assert "ValueError: card declined" in from_loki.stdout

    def test_traces_trace_for_trace(self, loki: LokiQueryReceiver, tmp_path: Path) -> None:
        lines = make_lines()
        ship(Loki(loki.url, batch_interval=0.05), lines)
        from_file = run("traces", "--json", file_of(tmp_path, lines))
        from_loki = run("traces", "--json", "--loki", loki.url, "--since", "1h")
        assert 0 == from_loki.returncode, from_loki.stderr
        assert from_file.stdout == from_loki.stdout
        assert 3 == len(from_loki.stdout.splitlines())

    def test_the_query_is_a_line_filter_then_json_then_the_trace_field(
        self, loki: LokiQueryReceiver
    ) -> None:
        ship(Loki(loki.url, batch_interval=0.05), make_lines())
        assert 0 == run("show", TRACE_C[:10], "--loki", loki.url).returncode
        prefix, whole = (q["query"] for q in loki.queries)
        assert f'{{level=~".+"}} |= "{TRACE_C[:10]}" | json | trace_id=~"{TRACE_C[:10]}.*"' == (
            prefix
        )
        assert f'{{level=~".+"}} |= "{TRACE_C}" | json | trace_id="{TRACE_C}"' == whole
        assert {"forward"} == {q["direction"] for q in loki.queries}

    def test_paging_gets_every_line_even_at_one_instant(
        self, loki: LokiQueryReceiver, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        stamp = "2026-11-25T07:40:34.123456Z"
        lines = [
            orjson.dumps(
                {
                    "timestamp": stamp if n % 4 else "2026-11-25T07:40:35.000000Z",
                    "level": "info",
                    "message": f"event {n}",
                    "trace_id": TRACE_A,
                    "span_id": "1" * 16,
                    "n": n,
                }
            )
            + b"\n"
            for n in range(23)
        ]
        ship(Loki(loki.url, batch_interval=0.05), lines)
        monkeypatch.setattr(server, "PAGE", 5)
        source = LokiSource(loki.url, sources.DEFAULT_SELECTOR, {}, 5.0, 1000)
        got = [
            orjson.loads(line)["n"]
            for batch in source.lines(1_795_000_000.0, 1_800_000_000.0, TRACE_A, exact=True)
            for line in batch
        ]
        assert list(range(23)) == sorted(got)
        assert source.requests >= 5

    def test_ambiguous_prefix_lists_the_candidates(self, loki: LokiQueryReceiver) -> None:
        ship(Loki(loki.url, batch_interval=0.05), make_lines())
        result = run("show", "abcd", "--loki", loki.url)
        assert 1 == result.returncode
        assert TRACE_A in result.stderr and TRACE_B in result.stderr
        assert "give more digits" in result.stderr

    def test_a_file_and_loki_make_one_trace(self, loki: LokiQueryReceiver, tmp_path: Path) -> None:
        ship(Loki(loki.url, batch_interval=0.05), make_lines(service="shop"))
        payments = file_of(tmp_path, make_lines(service="payments"), "payments.log")
        result = run("show", TRACE_A[:12], payments, "--loki", loki.url)
        assert 0 == result.returncode, result.stderr
        assert "services: payments, shop" in result.stdout

    def test_tenant_and_auth_are_sent(self, tmp_path: Path) -> None:
        expect = {"X-Scope-OrgID": "team-a", "Authorization": "Bearer s3"}
        with LokiQueryReceiver(expect_headers=expect) as server:
            ship(Loki(server.url, tenant_id="team-a", auth="s3"), make_lines())
            ok = run("show", TRACE_B, "--loki", server.url, "--tenant", "team-a", "--token", "s3")
            assert 0 == ok.returncode, ok.stderr
            missing = run("show", TRACE_B, "--loki", server.url, "--token", "s3")
        assert 1 == missing.returncode
        hint = "(check --tenant, --user or --token)"
        assert [f"tracelog: Loki at {server.url} answered 401 {hint}: no org id"] == (
            missing.stderr.splitlines()[:1]
        )
        assert "Traceback" not in missing.stderr

    def test_a_logql_error_is_one_line(self, loki: LokiQueryReceiver) -> None:
        result = run("view", "--loki", loki.url, "--query", '{service=~".*"}')
        assert 1 == result.returncode
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"tracelog: Loki at {loki.url} answered 400: queries require")

    def test_a_timeout_is_one_line(self, loki: LokiQueryReceiver) -> None:
        loki.delay = 3.0
        result = run("show", TRACE_A, "--loki", loki.url, "--timeout", "0.5")
        assert [f"tracelog: Loki at {loki.url} did not answer within 0.5 s (--timeout)"] == (
            result.stderr.splitlines()[:1]
        )
        assert "Traceback" not in result.stderr

    def test_an_unreachable_server_is_one_line(self) -> None:
        result = run("show", TRACE_A, "--loki", "http://127.0.0.1:9")
        assert result.stderr.startswith("tracelog: cannot reach Loki at http://127.0.0.1:9: ")
        assert "Traceback" not in result.stderr

    def test_traces_needs_since_and_says_when_the_limit_was_reached(
        self, loki: LokiQueryReceiver
    ) -> None:
        ship(Loki(loki.url, batch_interval=0.05), make_lines())
        result = run("traces", "--loki", loki.url)
        assert 2 == result.returncode
        assert "--since" in result.stderr
        capped = run("traces", "--loki", loki.url, "--since", "1h", "--max-lines", "4")
        assert "stopped after --max-lines 4 lines" in capped.stderr
        assert 2 == len(capped.stdout.splitlines())  # the header and the first trace

    def test_view_filters_what_loki_returns(self, loki: LokiQueryReceiver) -> None:
        ship(Loki(loki.url, batch_interval=0.05), make_lines())
        result = run("view", "--loki", loki.url, "--trace", "abcd", "--level", "error", "--json")
        assert 0 == result.returncode, result.stderr
        (line,) = result.stdout.splitlines()
        assert TRACE_A == orjson.loads(line)["trace_id"]

    def test_an_id_cannot_inject_logql(self, loki: LokiQueryReceiver) -> None:
        result = run("show", 'x"} |= "', "--loki", loki.url)
        assert 2 == result.returncode
        assert "is not a trace id" in result.stderr
        assert [] == loki.queries


class TestElasticsearchSource:
    @pytest.mark.parametrize("schema", ["ecs", "default"])
    def test_show_reads_back_what_the_shipper_indexed(
        self, es: ElasticsearchQueryReceiver, tmp_path: Path, schema: str
    ) -> None:
        lines = make_lines(schema)
        ship(Elasticsearch(es.url, batch_interval=0.05), lines)
        from_file = run("show", TRACE_A[:8] + "1", file_of(tmp_path, lines))
        from_es = run("show", TRACE_A[:8] + "1", "--elasticsearch", es.url)
        assert 0 == from_es.returncode, from_es.stderr
        assert from_file.stdout == from_es.stdout
        assert "ValueError: card declined" in from_es.stdout

    def test_traces_trace_for_trace(self, es: ElasticsearchQueryReceiver, tmp_path: Path) -> None:
        lines = make_lines("ecs")
        ship(Elasticsearch(es.url, batch_interval=0.05), lines)
        from_file = run("traces", "--json", file_of(tmp_path, lines))
        from_es = run("traces", "--json", "--elasticsearch", es.url, "--since", "1h")
        assert 0 == from_es.returncode, from_es.stderr
        assert from_file.stdout == from_es.stdout

    def test_search_after_pages_under_a_point_in_time(
        self, es: ElasticsearchQueryReceiver, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        ship(Elasticsearch(es.url, batch_interval=0.05), make_lines("ecs") * 1)
        monkeypatch.setattr(server, "PAGE", 2)
        source = ElasticsearchSource(es.url, "logs-*", {}, 5.0, 1000)
        got = [line for batch in source.lines(0.0, 4e9, TRACE_A, exact=True) for line in batch]
        assert 4 == len(got)
        assert [b"checkout started", b"charging", b"charge failed", b"done"] == [
            orjson.loads(line)["message"].encode() for line in got
        ]
        searches = [s for s in es.searches if "pit" in s]
        assert 3 == len(searches)  # 2 + 2 + 0 hits
        assert all(s["sort"][1] == {"_shard_doc": "asc"} for s in searches)
        assert "search_after" not in searches[0] and "search_after" in searches[1]
        assert {} == es.pits  # closed again

    def test_auth_and_errors_are_one_line(self) -> None:
        expect = {"Authorization": "ApiKey a2V5"}
        with ElasticsearchQueryReceiver(expect_headers=expect) as server:
            ship(Elasticsearch(server.url, api_key="a2V5"), make_lines("ecs"))
            ok = run("show", TRACE_C, "--elasticsearch", server.url, "--api-key", "a2V5")
            assert 0 == ok.returncode, ok.stderr
            refused = run("show", TRACE_C, "--elasticsearch", server.url)
            missing = run(
                "show",
                TRACE_C,
                "--elasticsearch",
                server.url,
                "--index",
                "nope",
                "--api-key",
                "a2V5",
            )
        assert refused.stderr.startswith(
            f"tracelog: Elasticsearch at {server.url} answered 401 (check --user, --token or "
            "--api-key)"
        )
        assert [
            f"tracelog: Elasticsearch at {server.url} answered 404: index_not_found_exception: "
            "no such index [nope]"
        ] == missing.stderr.splitlines()
        assert "Traceback" not in refused.stderr + missing.stderr

    def test_an_api_key_as_id_and_key_is_sent_as_the_shipper_sends_it(self) -> None:
        expect = {"Authorization": "ApiKey aWQ6a2V5"}  # base64("id:key")
        with ElasticsearchQueryReceiver(expect_headers=expect) as server:
            ship(Elasticsearch(server.url, api_key=("id", "key")), make_lines("ecs"))
            ok = run("show", TRACE_C, "--elasticsearch", server.url, "--api-key", "id:key")
        assert 0 == ok.returncode, ok.stderr

    def test_ambiguous_prefix_lists_the_candidates(self, es: ElasticsearchQueryReceiver) -> None:
        ship(Elasticsearch(es.url, batch_interval=0.05), make_lines("ecs"))
        result = run("show", "abcd12", "--elasticsearch", es.url)
        assert 1 == result.returncode
        assert TRACE_A in result.stderr and TRACE_B in result.stderr
        prefix = es.searches[0]["query"]["bool"]["should"]
        assert [{"prefix": {"trace.id": "abcd12"}}, {"prefix": {"trace_id": "abcd12"}}] == prefix

    def test_the_window_is_what_is_asked(self, es: ElasticsearchQueryReceiver) -> None:
        ship(Elasticsearch(es.url, batch_interval=0.05), make_lines("ecs"))
        since, until = "2026-11-25T08:00:00+01:00", "2026-11-25T07:30:00Z"
        result = run("view", "--elasticsearch", es.url, "--since", since, "--until", until)
        assert 0 == result.returncode, result.stderr
        assert b"" == result.stdout.encode()  # the lines were shipped now, not then
        (window,) = es.searches[0]["query"]["bool"]["filter"]
        assert {"gte": 1_795_590_000_000, "lte": 1_795_591_800_001, "format": "epoch_millis"} == (
            window["range"]["@timestamp"]
        )


class TestCommandLine:
    def test_follow_reads_files_only(self, loki: LokiQueryReceiver) -> None:
        result = run("view", "-f", "--loki", loki.url)
        assert (2, "tracelog: -f follows files; servers are read once\n") == (
            result.returncode,
            result.stderr,
        )

    def test_the_default_window_is_a_day(self, loki: LokiQueryReceiver) -> None:
        assert 0 == run("view", "--loki", loki.url).returncode
        (query,) = loki.queries
        span = (int(query["end"]) - 1 - int(query["start"])) / 1e9
        assert abs(span - sources.DEFAULT_WINDOW) < 1.0


class TestLogQLSubset:
    def test_parses_what_the_command_sends(self) -> None:
        matchers, stages = parse_logql('{level=~".+"} |= "ab" | json | trace_id=~"ab.*"')
        assert [("level", "=~", ".+")] == matchers
        assert [("line", "|=", "ab"), ("json",), ("label", "trace_id", "=~", "ab.*")] == stages

    def test_refuses_an_empty_compatible_selector(self) -> None:
        with pytest.raises(ValueError, match="empty-compatible"):
            parse_logql('{app=~".*"}')
