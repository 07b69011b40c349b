"""A stdlib HTTP server for a folder of static pages on 127.0.0.1 (the rendered installed-package docs, tests)."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

log = logging.getLogger(__name__)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:
        log.debug("serve: " + format, *args)


@contextmanager
def serve_folder(folder: Path, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `folder` while the block runs; yields the base URL (`http://127.0.0.1:<port>`)."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=f"serve-{folder.name}", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
