"""The syslog shipper: RFC 5424 messages, checked by format and by a real rsyslogd."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from _receivers import RSYSLOGD, Rsyslog, tracelog_lines, wait_until
from tracelog.outputs.shipping.syslog import Syslog, escape_param

LINE = (
    b'{"timestamp":"2026-11-25T07:40:34.123456Z","level":"error","logger":"shop.orders",'
    b'"message":"card declined","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736",'
    b'"span_id":"00f067aa0ba902b7","service":"shop"}'
)


class TestSyslogMessage:
    def test_rfc5424_header_structured_data_and_msg(self) -> None:
        shipper = Syslog(("127.0.0.1", 9), facility="local0", hostname="web-1")
        try:
            message = shipper.message(LINE)
        finally:
            shipper.close(0)
        expected = (
            f"<131>1 2026-11-25T07:40:34.123456Z web-1 shop {os.getpid()} shop.orders "
            '[trace@32473 trace_id="4bf92f3577b34da6a3ce929d0e0e4736" span_id="00f067aa0ba902b7"] '
        ).encode() + LINE
        assert expected == message

    def test_nil_values_when_the_line_lacks_fields(self) -> None:
        shipper = Syslog(("127.0.0.1", 9), hostname="h", app_name="app")
        try:
            message = shipper.message(b"not json")
        finally:
            shipper.close(0)
        assert f"<13>1 - h app {os.getpid()} - - not json".encode() == message

    @pytest.mark.parametrize(
        ("level", "pri"),
        [("debug", 15), ("info", 14), ("warning", 12), ("error", 11), ("critical", 10)],
    )
    def test_pri_from_level_and_facility(self, level: str, pri: int) -> None:
        shipper = Syslog(("127.0.0.1", 9), facility="user")
        try:
            message = shipper.message(b'{"level":"%s"}' % level.encode())
        finally:
            shipper.close(0)
        assert message.startswith(b"<%d>1 " % pri)

    def test_structured_data_values_are_escaped(self) -> None:
        assert 'a\\"b\\\\c\\]d' == escape_param('a"b\\c]d')

    def test_header_fields_are_printable_ascii_and_bounded(self) -> None:
        shipper = Syslog(("127.0.0.1", 9), hostname="h", app_name="my app é" + "x" * 60)
        try:
            header = shipper.message(b'{"logger":"' + b"l" * 40 + b'"}').split(b" ")
        finally:
            shipper.close(0)
        assert b"my_app_" == header[3][:7]
        assert 48 == len(header[3])
        assert 32 == len(header[5])

    def test_bad_options_are_refused(self) -> None:
        with pytest.raises(ValueError, match="facility"):
            Syslog(("127.0.0.1", 9), facility="nope")
        with pytest.raises(ValueError, match="protocol"):
            Syslog(("127.0.0.1", 9), protocol="relp")
        with pytest.raises(ValueError, match="does not suit"):
            Syslog("/dev/log", protocol="udp")
        with pytest.raises(ValueError, match="SD-NAME"):
            Syslog(("127.0.0.1", 9), sd_id="bad id")


class TestSyslogFraming:
    def test_tcp_uses_octet_counting(self) -> None:
        with socket.create_server(("127.0.0.1", 0)) as server:
            server.settimeout(10)
            shipper = Syslog(server.getsockname(), protocol="tcp", batch_interval=0.01)
            shipper.write(LINE + b"\n")
            shipper.write(LINE + b"\n")
            conn, _ = server.accept()
            received = b""
            with conn:
                conn.settimeout(10)
                while received.count(LINE) < 2:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    received += chunk
            shipper.close(2)
        first, _, rest = received.partition(b" ")
        assert int(first) == rest.index(LINE) + len(LINE)
        assert rest[int(first) :].split(b" ", 1)[0].isdigit()


needs_rsyslog = pytest.mark.skipif(RSYSLOGD is None, reason="rsyslogd is not installed")


@pytest.fixture
def rsyslog(tmp_path: Path) -> Iterator[Rsyslog]:
    daemon = Rsyslog(tmp_path)
    yield daemon
    daemon.stop()


@needs_rsyslog
class TestSyslogWithRsyslog:
    @pytest.mark.parametrize("protocol", ["udp", "tcp", "unix"])
    def test_rsyslog_parses_every_field(self, rsyslog: Rsyslog, protocol: str) -> None:
        if protocol == "unix":
            address: tuple[str, int] | str = rsyslog.socket_path
        else:
            address = ("127.0.0.1", rsyslog.udp_port if protocol == "udp" else rsyslog.tcp_port)
        app = f"shop-{protocol}"
        shipper = Syslog(
            address,
            protocol,
            facility="local3",
            app_name=app,
            hostname="web-1",
            batch_interval=0.01,
        )
        lines = tracelog_lines(20)
        for line in lines:
            shipper.write(line)
        assert shipper.flush(10)
        shipper.close(5)

        assert wait_until(lambda: len(rsyslog.messages(app)) >= 20, timeout=20)
        messages = rsyslog.messages(app)
        assert 20 == len(messages)
        for line, message in zip(lines, messages, strict=True):
            document = orjson.loads(line)
            assert str(19 * 8 + 6) == message["pri"]
            assert "1" == message["version"]
            assert "web-1" == message["hostname"]
            assert str(os.getpid()) == message["procid"]
            assert "shop.orders" == message["msgid"]
            assert (
                f'[trace@32473 trace_id="{document["trace_id"]}" span_id="{document["span_id"]}"]'
                == message["sd"]
            )
            assert document == orjson.loads(message["msg"])
            assert message["timestamp"].startswith(document["timestamp"][:19])

    def test_tcp_reconnects_after_the_daemon_restarts(self, tmp_path: Path) -> None:
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        first = Rsyslog(tmp_path / "a")
        shipper = Syslog(
            ("127.0.0.1", first.tcp_port),
            "tcp",
            app_name="again",
            batch_interval=0.01,
            backoff=0.05,
            max_backoff=0.2,
        )
        try:
            shipper.write(tracelog_lines(1)[0])
            assert shipper.flush(10)
            assert wait_until(lambda: len(first.messages("again")) == 1, timeout=20)
            first.stop()
            second = Rsyslog(tmp_path / "b", tcp_port=first.tcp_port)
            try:
                # Plain TCP has no acknowledgement: what went into the dead connection is
                # lost, so keep writing (bounded) until the new daemon sees a line.
                for _ in range(100):
                    shipper.write(tracelog_lines(1)[0])
                    shipper.flush(5)
                    if wait_until(lambda: second.messages("again"), timeout=0.2):
                        break
                assert second.messages("again")
            finally:
                second.stop()
        finally:
            shipper.close(1)
            first.stop()
