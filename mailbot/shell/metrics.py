"""An optional Prometheus text endpoint (exposition format 0.0.4), on loopback by default.

A tiny HTTP server in a daemon thread answers ``GET /metrics`` with what
``collect`` returns; every scrape reads fresh figures from the store, so the
endpoint holds no state of its own. ``/healthz`` answers ``ok``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["serve_metrics"]

log = logging.getLogger("mailbot.metrics")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def serve_metrics(host: str, port: int, collect: Callable[[], str]) -> ThreadingHTTPServer:
    """Start serving on ``host:port`` in a daemon thread; the caller shuts it down."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/healthz":
                self._answer(200, "ok\n", "text/plain; charset=utf-8")
            elif self.path.split("?")[0] == "/metrics":
                self._answer(200, collect(), CONTENT_TYPE)
            else:
                self._answer(404, "not found\n", "text/plain; charset=utf-8")

        def _answer(self, code: int, body: str, kind: str) -> None:
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("metrics: " + format, *args)

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
