"""`http://127.0.0.1:8080[?view=overlay&quality=80&fps=15]`: a browser preview for headless robots.

Serves, from the standard library's ThreadingHTTPServer on its own threads:
  /             a page with the MJPEG stream, the class legend and live statistics
  /stream.mjpg  the segmentation as Motion JPEG (multipart/x-mixed-replace)
  /frame.jpg    the newest frame as one JPEG
  /stats.json   the run's numbers so far (FPS, latency, frames in/out/dropped, backend)

It binds to 127.0.0.1 unless the URI names another address (http://0.0.0.0:8080 for every interface:
the stream is unauthenticated, so a bind that other machines can reach prints a warning). Port 0 picks a
free port; `url` says which.

A robot runs for days and its network is not ours: every connection has a socket timeout (`timeout=`,
default 10 s: a client that sends no request, or stops reading the stream, is dropped instead of holding
a thread for ever), and at most `clients=` (default 8) are served at once; one more gets a short
"503 Service Unavailable" that says why, sent from the accepting thread, without a thread of its own.

`write` only keeps a reference to the newest result, so the pipeline never waits for the network.
One encoder thread turns the newest result into a JPEG while someone is watching (none otherwise),
and every client gets the newest JPEG when it is ready for one: a slow client or a slow encoder skips
frames (counted as `skipped`), it never stalls capture.
"""

from __future__ import annotations

import contextlib
import errno
import html
import ipaddress
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from amf_edge.errors import AmfEdgeError
from amf_edge.lazy import require_module
from amf_edge.runtime.sinks.base import Result, RunReport, Sink, SinkContext
from amf_edge.runtime.sinks.views import VIEWS, render
from amf_edge.uri import choice, parse_uri, positive_float, positive_int, split_address

EXAMPLE = "http://127.0.0.1:8080?view=overlay&quality=80"
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8080
DEFAULT_CLIENTS = 8  # a few browsers and a recorder; each is a thread and an encoder's worth of bandwidth
DEFAULT_TIMEOUT_S = 10.0  # the longest a client may keep its connection silent (no request, not reading)
BOUNDARY = "amfedgeframe"


def _quality(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 100:
        raise ValueError
    return value


OPTIONS = {"view": choice(*VIEWS), "quality": (_quality, "a JPEG quality from 1 to 100"),
           "fps": (positive_float, "frames per second > 0 (a cap on the encoding rate), e.g. 15"),
           "clients": (positive_int, "the most connections served at once, e.g. 8"),
           "timeout": (positive_float, "seconds a connection may stay silent before it is closed, e.g. 10")}


class HttpSink(Sink):
    scheme = "http"

    def __init__(self, uri: str):
        super().__init__(uri)
        address, options = parse_uri(uri, "http", OPTIONS, EXAMPLE)
        try:
            host, port = split_address(address)
        except ValueError as e:
            if str(e) == "port":
                raise AmfEdgeError(f"{uri!r}: the port must be a number from 0 to 65535, like {EXAMPLE!r}") from None
            raise AmfEdgeError(f"{uri!r}: expected only an address and a port, like {EXAMPLE!r}") from None
        self.host = host or DEFAULT_HOST
        self.port = DEFAULT_PORT if port is None else port
        self.view, self.quality = options.get("view", "overlay"), options.get("quality", 80)
        self.max_fps = options.get("fps")
        self.max_clients = options.get("clients", DEFAULT_CLIENTS)
        self.timeout_s = options.get("timeout", DEFAULT_TIMEOUT_S)
        self.url = f"http://{self.host}:{self.port}/"
        self.server: ThreadingHTTPServer | None = None
        self._cond = threading.Condition()
        self._latest: Result | None = None
        self._latest_seq = 0
        self._jpeg: bytes | None = None
        self._jpeg_seq = 0
        self._claimed_seq = 0  # the newest frame the encoder has taken
        self._viewers = 0
        self._closed = False
        self.encoded = self.skipped = self.served = self.refused = 0

    def open(self, context: SinkContext) -> None:
        super().open(context)
        self.cv2 = require_module("cv2", "the http preview's JPEG encoding")
        server_class = _Server6 if ":" in self.host else _Server
        try:
            self.server = server_class((self.host, self.port), _Handler)
        except socket.gaierror:
            raise AmfEdgeError(f"{self.uri}: cannot resolve the address {self.host!r}; give an IP address such as "
                               "127.0.0.1 (this machine only) or 0.0.0.0 (every interface)") from None
        except OSError as e:
            hint = {errno.EADDRINUSE: "the port is in use: pick another one, or port 0 for a free one",
                    errno.EACCES: "ports below 1024 need privileges: pick a port above 1024",
                    errno.EADDRNOTAVAIL: "that address is not one of this machine's"}.get(e.errno, e.strerror)
            raise AmfEdgeError(f"{self.uri}: cannot listen on {self.host}:{self.port}: {hint}") from None
        self.server.sink = self
        self.port = self.server.server_address[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{self.port}/"
        self._page = _page(self).encode()
        self._threads = [threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                          name="amf-edge-http", daemon=True),
                         threading.Thread(target=self._encode_loop, name="amf-edge-http-encoder", daemon=True)]
        for t in self._threads:
            t.start()
        print(f"preview at {self.url} (Ctrl-C to stop)", flush=True)
        if not _loopback(self.host):
            print(f"warning: the preview listens on {self.host}, which other machines can reach, and has no "
                  "authentication: anyone on the network can watch. Bind to 127.0.0.1 (the default) and reach it "
                  "through an SSH tunnel (ssh -L 8080:127.0.0.1:8080 robot) unless the network is trusted",
                  file=sys.stderr, flush=True)

    def write(self, result: Result) -> None:
        with self._cond:
            if self._viewers and self._latest_seq > self._claimed_seq:
                self.skipped += 1  # someone is watching and the previous frame was never encoded
            self._latest = result
            self._latest_seq += 1
            self._cond.notify_all()
        self.written += 1

    def _encode_loop(self) -> None:
        cv2, last = self.cv2, 0.0
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or (self._viewers and self._latest_seq > self._claimed_seq))
                if self._closed:
                    return
                if self.max_fps:  # a rate cap for thin links: wait out the interval, then take the newest frame
                    self._cond.wait_for(lambda: self._closed, last + 1 / self.max_fps - time.perf_counter())
                result, seq = self._latest, self._latest_seq
                self._claimed_seq = seq
            image = render(result, self.view, self.context)
            ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
            last = time.perf_counter()
            if ok:
                with self._cond:
                    self._jpeg, self._jpeg_seq = jpeg.tobytes(), seq
                    self.encoded += 1
                    self._cond.notify_all()

    @contextlib.contextmanager
    def watching(self):
        """Count a client as a viewer (the encoder works only while there is one)."""
        with self._cond:
            self._viewers += 1
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._viewers -= 1

    def next_jpeg(self, after: int, timeout: float) -> tuple[bytes | None, int]:
        """The newest JPEG of a frame after number `after` (waits up to `timeout`); (None, after) if none."""
        with self._cond:
            self._cond.wait_for(lambda: self._closed or self._jpeg_seq > after, timeout)
            if self._closed or self._jpeg_seq <= after:
                return None, after
            return self._jpeg, self._jpeg_seq

    def newest_jpeg(self, timeout: float) -> bytes | None:
        """A JPEG of the newest frame written so far (or of the first, if none yet)."""
        with self.watching():
            return self.next_jpeg(max(self._latest_seq - 1, 0), timeout)[0]

    @property
    def closed(self) -> bool:
        return self._closed

    def live_stats(self) -> dict:
        stats = self.context.live_stats()
        return {**stats, "backend": self.context.backend, "http": self.stats()}

    def close(self, report: RunReport | None = None) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
            for t in self._threads:
                t.join(timeout=5)

    def stats(self) -> dict:
        return {"written": self.written, "url": self.url, "encoded": self.encoded, "skipped": self.skipped,
                "served": self.served, "viewers": self._viewers, "refused": self.refused}


def _loopback(host: str) -> bool:
    """Whether only this machine can reach `host` (an address or a name that resolves to loopback ones)."""
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        pass
    try:
        return all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback
                   for info in socket.getaddrinfo(host, None))
    except (OSError, ValueError):
        return False  # cannot tell: warn


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a client still streaming must not keep the process alive

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._active = 0
        self._active_lock = threading.Lock()

    def process_request(self, request, client_address):
        """A thread for the connection, or a 503 at once when `clients` are served already."""
        sink: HttpSink = self.sink
        request.settimeout(sink.timeout_s)
        with self._active_lock:
            full = self._active >= sink.max_clients
            if not full:
                self._active += 1
        if full:
            sink.refused += 1
            body = (f"the preview serves {sink.max_clients} connections at once and all are taken; close one, "
                    "or start the run with a higher http://...?clients=N\n").encode()
            with contextlib.suppress(OSError):  # a client that went away (or never reads) is not our problem
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                                b"Retry-After: 5\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
                                + body)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            with self._active_lock:
                self._active -= 1
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._active_lock:
                self._active -= 1


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server_version = "amf-edge"

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        sink: HttpSink = self.server.sink
        path = urlsplit(self.path).path
        try:
            if path == "/":
                self._send(200, "text/html; charset=utf-8", sink._page)
            elif path == "/stats.json":
                self._send(200, "application/json", json.dumps(sink.live_stats()).encode())
            elif path == "/frame.jpg":
                jpeg = sink.newest_jpeg(timeout=5.0)
                if jpeg is None:
                    self._send(503, "text/plain", b"no frame yet\n")
                else:
                    self._send(200, "image/jpeg", jpeg)
            elif path == "/stream.mjpg":
                self._stream(sink)
            else:
                self._send(404, "text/plain", b"not found; try / or /stream.mjpg\n")
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the viewer went away, or stopped reading for `timeout` seconds

    def _send(self, status: int, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, sink: HttpSink) -> None:
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        seq = 0
        with sink.watching():
            while not sink.closed:
                jpeg, seq = sink.next_jpeg(seq, timeout=1.0)
                if jpeg is None:
                    continue
                self.wfile.write((f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                  f"Content-Length: {len(jpeg)}\r\n\r\n").encode() + jpeg + b"\r\n")
                self.wfile.flush()
                sink.served += 1

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass  # one line per request would drown the run's own output


def _page(sink: HttpSink) -> str:
    labels = sink.context.labels
    legend = "".join(
        f'<li><span class="swatch" style="background:rgb({r},{g},{b})"></span>{html.escape(name)}</li>'
        for name, (r, g, b) in zip(labels.names, labels.palette)
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>amf-edge preview</title>
<style>
 body {{ margin: 0; background: #202020; color: #eee; font: 14px sans-serif; display: flex; align-items: flex-start; }}
 #stream {{ display: block; }}
 aside {{ padding: 8px 14px; }}
 ul {{ list-style: none; padding: 0; margin: 0; }}
 li {{ line-height: 20px; }}
 .swatch {{ display: inline-block; width: 14px; height: 14px; margin-right: 6px; vertical-align: -2px; }}
 td {{ padding: 0 10px 0 0; }}
</style></head>
<body>
<img id="stream" src="/stream.mjpg" alt="segmentation stream">
<aside>
<h3>amf-edge · {html.escape(sink.view)}</h3>
<table id="stats">
 <tr><td>FPS</td><td id="fps">–</td></tr>
 <tr><td>latency (ms, p50 / max of the last frames)</td><td id="latency">–</td></tr>
 <tr><td>frames in / out / dropped</td><td id="frames">–</td></tr>
 <tr><td>backend</td><td id="backend">–</td></tr>
</table>
<h3>classes</h3>
<ul id="legend">{legend}</ul>
</aside>
<script>
async function refresh() {{
  try {{
    const s = await (await fetch("/stats.json", {{cache: "no-store"}})).json();
    document.getElementById("fps").textContent = s.fps.toFixed(1);
    const cell = (id, text) => {{ document.getElementById(id).textContent = text; }};
    cell("latency", s.latency_ms === null ? "–" : s.latency_ms.toFixed(1) + " / " + s.latency_max_ms.toFixed(1));
    cell("frames", s.frames_in + " / " + s.frames_out + " / " + s.dropped);
    cell("backend", s.backend.backend + " " + (s.backend.provider || s.backend.device || ""));
  }} catch (e) {{
    document.getElementById("fps").textContent = "stream ended";
  }}
}}
refresh();
setInterval(refresh, 1000);
</script>
</body></html>
"""
