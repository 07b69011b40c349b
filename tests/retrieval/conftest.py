"""Fixtures: a small documentation site on 127.0.0.1 (plus an off-site server), and built corpora in a private cache."""

from __future__ import annotations

import os
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

PAGE = """<!doctype html><html><head><title>{title}</title><script>var tracking = "SCRIPTTEXT";</script>
<style>body {{ color: red }}</style></head>
<body><header>HEADERTEXT</header><nav><a href="/docs/index.html">NAVTEXT home</a></nav>
<main><h1>{title}</h1><p>{body}</p>{links}</main><footer>FOOTERTEXT</footer></body></html>"""

# path -> (title, body, links); the crawl starts at docs/index.html with the allowed prefix /docs/
SITE = {
    "docs/index.html": ("Start", "Depth zero page.", ["a.html", "a.html#usage", "sub/", "/private/secret.html",
                                                     "{offsite}/docs/offsite.html", "mailto:x@example.org"]),
    "docs/a.html": ("Page A", "Depth one page about adding files.", ["b.html", "index.html", "#top"]),
    "docs/sub/index.html": ("Sub", "Depth one folder page.", ["../b.html", "../a.html#again"]),
    "docs/b.html": ("Page B", "Depth two page about pushing.", ["c.html"]),
    "docs/c.html": ("Page C", "Depth three page: beyond the crawl.", ["d.html"]),
    "docs/d.html": ("Page D", "Depth four.", []),
    "private/secret.html": ("Secret", "Outside the allowed prefix.", []),
}
EXPECTED = {"docs/index.html": 0, "docs/a.html": 1, "docs/sub": 1, "docs/b.html": 2}


class _Recording(SimpleHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def log_message(self, *args) -> None:
        return None

    def do_GET(self):
        type(self).hits.append(self.path)
        return super().do_GET()


def _serve(folder: Path, handler_cls):
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler_cls, directory=str(folder)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """(start URL, allowed prefix, base URL, off-site hits): the main site and a second server it links to."""
    offsite_dir = tmp_path_factory.mktemp("offsite")
    (offsite_dir / "docs").mkdir()
    (offsite_dir / "docs/offsite.html").write_text(PAGE.format(title="Off", body="Off-site page.", links=""))
    handler = type("OffsiteHandler", (_Recording,), {"hits": []})
    offsite = _serve(offsite_dir, handler)
    offsite_url = f"http://127.0.0.1:{offsite.server_address[1]}"
    root = tmp_path_factory.mktemp("site")
    for rel, (title, body, links) in SITE.items():
        anchors = "".join(f'<a href="{href.format(offsite=offsite_url)}">{href}</a> ' for href in links)
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(PAGE.format(title=title, body=body, links=anchors))
    main = _serve(root, _Recording)
    base = f"http://127.0.0.1:{main.server_address[1]}"
    yield f"{base}/docs/index.html", f"{base}/docs/", base, handler.hits
    for server in (main, offsite):
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- built corpora (shared by the module tests)

# the lexical `hashing` embedder keeps these builds to seconds; the minilm build is a slow test
QUICK_DVC = {"fetcher": "http", "embedder": "hashing"}  # the whole dvc corpus (about 60 pages)
QUICK_GIT = {"fetcher": "http", "embedder": "hashing", "max_classes": 12}


@pytest.fixture(scope="session")
def corpus_cache(tmp_path_factory):
    """A private ADAPTBENCH_CACHE holding gitpython and dvc corpora built from the installed packages."""
    from retrieval import BuildOptions, build_corpus

    cache = tmp_path_factory.mktemp("cache")
    old = os.environ.get("ADAPTBENCH_CACHE")
    os.environ["ADAPTBENCH_CACHE"] = str(cache)
    try:
        built = {"dvc": build_corpus("dvc", BuildOptions(**QUICK_DVC)),
                 "gitpython": build_corpus("gitpython", BuildOptions(**QUICK_GIT))}
        yield cache, built
    finally:
        if old is None:
            os.environ.pop("ADAPTBENCH_CACHE", None)
        else:
            os.environ["ADAPTBENCH_CACHE"] = old


@pytest.fixture
def use_corpus_cache(corpus_cache, monkeypatch):
    monkeypatch.setenv("ADAPTBENCH_CACHE", str(corpus_cache[0]))
    return corpus_cache[1]
