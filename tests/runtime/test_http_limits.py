"""The http preview on a long run: idle connections time out, a cap on clients answers 503, and a bind other
machines can reach prints a warning. Real sockets against the real server."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from amf_edge.runtime.sinks import SinkContext, sink_from_uri
from amf_edge.synthetic import SYNTHETIC_LABELS

pytestmark = pytest.mark.edge  # torch-free: runs on the edge target too

cv2 = pytest.importorskip("cv2")


def context() -> SinkContext:
    return SinkContext(labels=SYNTHETIC_LABELS, channel_order="RGB", policy="live",
                       backend={"backend": "fake", "device": "cpu"}, frame_size=(8, 8), live_stats=dict)


def handler_threads() -> int:
    # ThreadingHTTPServer names its per-connection threads "Thread-N (process_request_thread)"
    return sum("process_request_thread" in t.name for t in threading.enumerate())


def wait_for(condition, seconds=10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_idle_connections_time_out_and_free_their_threads():
    sink = sink_from_uri("http://127.0.0.1:0?timeout=0.3")
    sink.open(context())
    try:
        before = handler_threads()
        clients = [socket.create_connection(("127.0.0.1", sink.port)) for _ in range(5)]  # and never send a byte
        assert wait_for(lambda: handler_threads() == before + 5)
        for c in clients:
            c.settimeout(5)
            assert c.recv(100) == b""  # the server hung up on the silent client
            c.close()
        assert wait_for(lambda: handler_threads() == before)
    finally:
        sink.close()


def test_connections_beyond_the_cap_get_a_503_that_says_why_without_a_thread():
    sink = sink_from_uri("http://127.0.0.1:0?clients=2&timeout=30")
    sink.open(context())
    try:
        before = handler_threads()
        held = [socket.create_connection(("127.0.0.1", sink.port)) for _ in range(2)]
        assert wait_for(lambda: handler_threads() == before + 2)
        extra = []
        for _ in range(20):
            c = socket.create_connection(("127.0.0.1", sink.port))
            c.settimeout(5)
            extra.append(c.recv(4096).decode())
            c.close()
        assert all(r.startswith("HTTP/1.0 503 Service Unavailable") for r in extra), extra[0]
        assert "serves 2 connections at once" in extra[0] and "clients=N" in extra[0]
        assert handler_threads() == before + 2 and sink.stats()["refused"] == 20
        for c in held:
            c.close()
        # a freed place is served again: the held ones time out or close, a new client gets the page
        assert wait_for(lambda: handler_threads() == before, 40)
        c = socket.create_connection(("127.0.0.1", sink.port))
        c.sendall(b"GET /stats.json HTTP/1.0\r\n\r\n")
        c.settimeout(5)
        assert c.recv(100).startswith(b"HTTP/1.0 200")
        c.close()
    finally:
        sink.close()


def test_a_bind_other_machines_can_reach_prints_a_warning(capsys):
    sink = sink_from_uri("http://127.0.0.1:0")
    sink.open(context())
    sink.close()
    assert "warning" not in capsys.readouterr().err
    sink = sink_from_uri("http://0.0.0.0:0")
    sink.open(context())
    sink.close()
    err = capsys.readouterr().err
    assert "warning: the preview listens on 0.0.0.0, which other machines can reach" in err
    assert "no authentication" in err and "127.0.0.1" in err
