"""A loopback HTTP server that replays responses written by the tests themselves
(no network: 127.0.0.1 only, stopped by the test)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable
from urllib.parse import parse_qs, urlparse


class ReplayServer:
    """Serve ``body_for(query) -> bytes`` (or ``(status, bytes)``) on 127.0.0.1; ``seen`` keeps
    the parsed queries. With ``with_path``, ``body_for(path, query)`` also gets the request's path
    and ``seen`` keeps ``(path, query)``."""

    def __init__(self, body_for: Callable, path: str = "/data", with_path: bool = False):
        seen = self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                url = urlparse(self.path)
                query = parse_qs(url.query)
                seen.append((url.path, query) if with_path else query)
                body = body_for(url.path, query) if with_path else body_for(query)
                status = 200
                if isinstance(body, tuple):  # (status, body)
                    status, body = body
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}{path}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
