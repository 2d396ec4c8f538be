"""A loopback HTTP server that replays responses written by the tests themselves
(no network: 127.0.0.1 only, stopped by the test)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable
from urllib.parse import parse_qs, urlparse


class ReplayServer:
    """Serve ``body_for(query) -> bytes`` (or ``(status, bytes)``, or ``(status, bytes, headers)``)
    on 127.0.0.1; ``seen`` keeps the parsed queries. With ``with_path``, ``body_for(path, query)``
    also gets the request's path and ``seen`` keeps ``(path, query)``. POST requests are served the
    same way; their bodies (and the headers of every request) are kept in ``bodies`` and
    ``headers``, in order."""

    def __init__(self, body_for: Callable, path: str = "/data", with_path: bool = False):
        seen = self.seen = []
        bodies = self.bodies = []
        headers_seen = self.headers = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def _reply(self, posted: bytes):
                url = urlparse(self.path)
                query = parse_qs(url.query)
                seen.append((url.path, query) if with_path else query)
                bodies.append(posted)
                headers_seen.append(dict(self.headers.items()))
                body = body_for(url.path, query) if with_path else body_for(query)
                status, extra = 200, {}
                if isinstance(body, tuple):  # (status, body) or (status, body, headers)
                    status, body, *rest = body
                    extra = rest[0] if rest else {}
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, str(value))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                self._reply(b"")

            def do_POST(self):  # noqa: N802
                self._reply(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def log_message(self, *args):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}{path}"
        # a short poll: shutdown() returns within 50 ms, not the default 0.5 s
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
