"""Documentation corpora: definitions (corpora/<component>.toml), sources (a registry), the curation pipeline
(crawl -> chunk -> optional LLM summary -> embed -> FAISS) and the built corpus in the cache.

A built corpus lives in `$ADAPTBENCH_CACHE/corpora/<component>/` (default ~/.cache/adaptbench/corpora/...):
`manifest.json`, `chunks.jsonl`, `index.faiss`, and `site/` (the rendered pages, for the installed source).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
import tomllib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from threading import Lock

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from benchmark.cache import default_cache_dir, write_json_atomic
from benchmark.errors import AdaptbenchError, UnknownNameError
from benchmark.registry import Registry

from ._chunking import CHUNK_OVERLAP, CHUNK_SIZE, CHUNKERS, DEFAULT_CHUNKER, chunk_pages
from ._embed import DEFAULT_EMBEDDER, VectorCache, get_embedder
from ._llm import LLMSpec, ask, render, resolve_llm
from ._server import serve_folder
from ._store import VectorStore
from .crawler import CrawlLimits, Page, crawl

log = logging.getLogger(__name__)

CORPUS_SCHEMA_VERSION = 3  # 2: entry chunks, API summaries, command <-> API links; 3: search keys, whole entries
MANIFEST = "manifest.json"
VECTORS_DIR = ".vectors"  # beside the corpora: vectors of the search keys already embedded, per embedder


class CorpusError(AdaptbenchError):
    """A corpus definition is malformed or a corpus cannot be built or loaded."""


# ---------------------------------------------------------------- definitions


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InstalledSpec(_Strict):
    modules: list[str]
    depth: int = 2
    env: dict[str, str] = Field(default_factory=dict)  # environment the modules need to import


class WebSpec(_Strict):
    start_urls: list[str]
    allowed_prefixes: list[str] = Field(default_factory=list)
    depth: int = 2
    fetcher: str = "selenium"
    max_pages: int = 300
    delay_s: float = 0.5


class CliSpec(_Strict):
    program: str
    parser: str
    groups: list[str] = Field(default_factory=list)
    # receivers in the command classes' code -> the API class they hold (`self.repo` -> `dvc.repo.Repo`): the
    # rendered pages then link each command to the Python API it runs
    api: dict[str, str] = Field(default_factory=dict)


class CorpusSpec(_Strict):
    component: str
    package: str
    import_roots: list[str]
    default_source: str = "installed"
    installed: InstalledSpec
    web: WebSpec | None = None
    cli: CliSpec | None = None


def corpora_dir() -> Path:
    env = os.environ.get("ADAPTBENCH_CORPORA_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "corpora"


def available_components() -> list[str]:
    return sorted(p.stem for p in corpora_dir().glob("*.toml"))


def load_spec(component: str) -> CorpusSpec:
    path = corpora_dir() / f"{component}.toml"
    if not path.is_file():
        import difflib

        known = available_components()
        close = difflib.get_close_matches(component, known, n=2)
        raise UnknownNameError(f"no corpus definition for '{component}' ({path})",
                               (f"did you mean {', '.join(close)}? " if close else "") + f"available: {', '.join(known)}")
    try:
        return CorpusSpec.model_validate(tomllib.loads(path.read_text()))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise CorpusError(f"{path}: {str(exc).splitlines()[0]}", "fix the corpus definition") from None


def package_version(spec: CorpusSpec) -> str:
    try:
        return version(spec.package)
    except PackageNotFoundError:
        raise CorpusError(f"package '{spec.package}' ({spec.component}) is not installed",
                          f"pip install {spec.package}, or build from the web: --source web") from None


# ---------------------------------------------------------------- build options


@dataclass
class BuildOptions:
    source: str | None = None  # installed | web (None: the definition's default_source)
    depth: int | None = None  # None: the source's depth in the definition
    fetcher: str | None = None  # selenium | http (None: selenium for both sources)
    max_pages: int | None = None
    summarise: bool = False
    model: LLMSpec = None  # the summariser (default: the embedded model)
    embedder: str = DEFAULT_EMBEDDER
    chunk_size: int = CHUNK_SIZE
    chunk_overlap: int = CHUNK_OVERLAP
    chunker: str = DEFAULT_CHUNKER  # entries | characters (the chunking of schema 1, to measure against)
    max_modules: int | None = None  # caps for quick builds (tests)
    max_classes: int | None = None
    max_commands: int | None = None
    extra: dict = field(default_factory=dict)

    @property
    def variant(self) -> str:
        """'' for the plain corpus; a summarised one is kept beside it, named after its summariser."""
        if not self.summarise:
            return ""
        return "summarised-" + re.sub(r"[^A-Za-z0-9._-]+", "_", resolve_llm(self.model).name).strip("_")


# ---------------------------------------------------------------- sources


class CorpusSource(ABC):
    """Where a corpus' pages come from. `collect` crawls them into `workdir` terms and reports what it did."""

    @abstractmethod
    def collect(self, spec: CorpusSpec, options: BuildOptions, workdir: Path) -> tuple[list[Page], dict]:
        """(pages, facts for the manifest: depth, start URLs, fetcher, package version ...)"""


SOURCES: Registry[CorpusSource] = Registry("corpus source", CorpusSource)


def corpus_source(name: str):
    return SOURCES.register(name)


@corpus_source("installed")
class InstalledSource(CorpusSource):
    """The installed package's docstrings and CLI help, rendered to HTML, served on 127.0.0.1 and crawled."""

    def collect(self, spec: CorpusSpec, options: BuildOptions, workdir: Path) -> tuple[list[Page], dict]:
        from ._render import RenderOptions, render_site

        site = workdir / "site"
        shutil.rmtree(site, ignore_errors=True)
        pkg_version = package_version(spec)
        render = RenderOptions(modules=spec.installed.modules, cli_parser=spec.cli.parser if spec.cli else None,
                               cli_program=spec.cli.program if spec.cli else "",
                               cli_api=spec.cli.api if spec.cli else {}, max_modules=options.max_modules,
                               max_classes=options.max_classes, max_commands=options.max_commands,
                               env=spec.installed.env)
        started = time.perf_counter()
        rendered = render_site(spec.component, pkg_version, render, site)
        render_s = time.perf_counter() - started
        depth = spec.installed.depth if options.depth is None else options.depth
        fetcher = options.fetcher or "selenium"
        with serve_folder(site) as base:
            result = crawl([f"{base}/index.html"], depth, fetcher,
                           limits=CrawlLimits(max_pages=options.max_pages or 5000))
        pages = [Page(url=p.url.replace(base, "installed://" + spec.component), depth=p.depth, title=p.title,
                      text=p.text) for p in result.pages]
        return pages, {"depth": depth, "fetcher": fetcher, "package_version": pkg_version,
                       "modules": render.modules[: options.max_modules] if options.max_modules else render.modules,
                       "rendered_pages": rendered, "render_s": round(render_s, 2)}


@corpus_source("web")
class WebSource(CorpusSource):
    """The component's documentation site (the study's setting; needs internet)."""

    def collect(self, spec: CorpusSpec, options: BuildOptions, workdir: Path) -> tuple[list[Page], dict]:
        if spec.web is None:
            raise CorpusError(f"corpus '{spec.component}' defines no [web] source", "use --source installed")
        web = spec.web
        depth = web.depth if options.depth is None else options.depth
        fetcher = options.fetcher or web.fetcher
        limits = CrawlLimits(max_pages=options.max_pages or web.max_pages, delay_s=web.delay_s)
        result = crawl(web.start_urls, depth, fetcher, web.allowed_prefixes or None, limits)
        if not result.pages:
            raise CorpusError(f"the web crawl of {spec.component} fetched no page ({len(result.skipped)} skipped)",
                              "check the internet connection, or use --source installed")
        try:
            pkg_version = version(spec.package)
        except PackageNotFoundError:
            pkg_version = None
        return result.pages, {"depth": depth, "fetcher": fetcher, "start_urls": web.start_urls,
                              "package_version": pkg_version, "skipped": len(result.skipped)}


# ---------------------------------------------------------------- the built corpus


def corpus_dir(component: str, variant: str = "") -> Path:
    """Where a built corpus lives: `corpora/<component>`, or `corpora/<component>@<variant>` (e.g. summarised)."""
    return default_cache_dir() / "corpora" / (f"{component}@{variant}" if variant else component)


class Corpus:
    """A built corpus: its manifest, chunks and FAISS index, searched with the embedder that built it (`dense`),
    with BM25 (`lexical`), or both fused (`hybrid`)."""

    def __init__(self, component: str, folder: Path, manifest: dict, store: VectorStore):
        self.component, self.folder, self.manifest, self.store = component, folder, manifest, store
        self._lexical = None
        self._parents: dict[int, int] | None = None

    @property
    def chunks(self) -> list[dict]:
        return self.store.chunks

    def search(self, queries: list[str] | str, k: int = 3, method: str = "dense") -> list[dict]:
        """Top-k documents for one query, or for several (each chunk scored by its best match over the queries)."""
        return [as_document(self.chunks[p], score) for p, score in self.rank(queries, k, method)]

    def search_overview(self, queries: list[str] | str, k: int = 3, method: str = "dense") -> list[dict]:
        """Small-to-big: the entries are matched, and each is returned as the API-summary part that lists it
        (scored by its best-matching entry); a chunk no summary lists stands for itself."""
        parents = self.summary_parts()
        best: dict[int, float] = {}
        for position, score in self.rank(queries, OVERVIEW_DEPTH, method):
            parent = parents.get(position, position)
            best[parent] = max(score, best.get(parent, float("-inf")))
        ranked = sorted(best.items(), key=lambda item: -item[1])[:k]
        return [as_document(self.chunks[p], score) for p, score in ranked]

    def summary_parts(self) -> dict[int, int]:
        """Chunk position -> position of the summary part (same page) that lists its entry."""
        if self._parents is None:
            self._parents = _summary_parts(self.chunks)
        return self._parents

    def rank(self, queries: list[str] | str, k: int = 3, method: str = "dense") -> list[tuple[int, float]]:
        """(chunk position, score) of the k best chunks, best first."""
        from ._search import FUSION_DEPTH, METHODS, fuse, merge

        if method not in METHODS:
            raise CorpusError(f"unknown search method '{method}'", f"choose one of: {', '.join(METHODS)}")
        queries = [queries] if isinstance(queries, str) else [q for q in queries if q.strip()]
        if not queries or k <= 0:
            return []
        depth = max(k, FUSION_DEPTH) if method == "hybrid" else k
        dense = self._dense(queries, depth) if method != "lexical" else None
        lexical = [self.lexical_index().rank(q, depth) for q in queries] if method != "dense" else None
        if method == "dense":
            per_query = dense
        elif method == "lexical":
            per_query = lexical
        else:
            per_query = [fuse([d, lx]) for d, lx in zip(dense, lexical)]
        return merge(per_query, k)

    def _dense(self, queries: list[str], depth: int) -> list[list[tuple[int, float]]]:
        return self.store.search(embed_queries(self.manifest["embedder"], queries), depth)

    def lexical_index(self):
        from ._search import LexicalIndex

        if self._lexical is None:
            self._lexical = LexicalIndex([f"{c['title']}\n{c.get('key') or c['text']}" for c in self.chunks])
        return self._lexical


OVERVIEW_DEPTH = 60  # entries matched before they are mapped to the summaries that list them
_SUMMARY_TITLE = re.compile(r" › \S+ (?:API summary|members)(?: \(continued\))?$")
_ENTRY_NAME = re.compile(r"^#+ (?:class )?([\w.]+)")


def is_summary(chunk: dict) -> bool:
    """A part of a module's API summary or of a class' member list (see _render)."""
    return bool(_SUMMARY_TITLE.search(chunk["title"]))


def _summary_parts(chunks: list[dict]) -> dict[int, int]:
    by_page: dict[str, list[int]] = {}
    for position, chunk in enumerate(chunks):
        if is_summary(chunk):
            by_page.setdefault(chunk["source"], []).append(position)
    parents = {}
    for position, chunk in enumerate(chunks):
        match = _ENTRY_NAME.match(chunk["text"])
        if position in parents or match is None or is_summary(chunk):
            continue
        listing = re.compile(rf"(?m)^(?:class )?{re.escape(match.group(1))}(?:\(| —|$)")
        parent = next((p for p in by_page.get(chunk["source"], []) if listing.search(chunks[p]["text"])), None)
        if parent is not None:
            parents[position] = parent
    return parents


_QUERY_VECTORS: dict[tuple[str, str], object] = {}  # (embedder, query) -> vector: evaluations repeat queries
_QUERY_CACHE_SIZE = 4096


def embed_queries(embedder_id: str, queries: list[str]):
    """The queries' vectors, each embedded once per process."""
    import numpy as np

    missing = [q for q in dict.fromkeys(queries) if (embedder_id, q) not in _QUERY_VECTORS]
    if missing:
        if len(_QUERY_VECTORS) + len(missing) > _QUERY_CACHE_SIZE:
            _QUERY_VECTORS.clear()
        for query, vector in zip(missing, get_embedder(embedder_id).embed(missing)):
            _QUERY_VECTORS[(embedder_id, query)] = vector
    return np.stack([_QUERY_VECTORS[(embedder_id, q)] for q in queries])


def as_document(chunk: dict, score: float | None) -> dict:
    return {"title": chunk["title"], "text": chunk["text"], "source": chunk["source"],
            "score": None if score is None else round(float(score), 4)}


_LOADED: dict[str, Corpus] = {}
_LOCK = Lock()


def get_corpus(component: str, options: BuildOptions | None = None) -> Corpus:
    """The built corpus (memoised per process), building it first when missing or stale. `options` that change
    the corpus' content (`summarise`) select a variant kept beside the plain corpus."""
    options = options or BuildOptions()
    variant = options.variant
    with _LOCK:
        key = f"{default_cache_dir()}::{component}@{variant}"
        if key not in _LOADED:
            corpus = load_corpus(component, variant)
            if corpus is None:
                corpus = build_corpus(component, options)
            _LOADED[key] = corpus
        return _LOADED[key]


def load_corpus(component: str, variant: str = "") -> Corpus | None:
    """The cached corpus, or None when absent, of another schema, or built from another package version."""
    folder = corpus_dir(component, variant)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("schema_version") != CORPUS_SCHEMA_VERSION:
        log.info("corpus %s has schema %s: rebuilding", component, manifest.get("schema_version"))
        return None
    if manifest.get("source") == "installed":
        installed = package_version(load_spec(component))
        if manifest.get("package_version") != installed:
            log.info("corpus %s was built from %s %s, %s is installed: rebuilding", component,
                     manifest.get("package"), manifest.get("package_version"), installed)
            return None
    return Corpus(component, folder, manifest, VectorStore.load(folder))


def build_corpus(component: str, options: BuildOptions | None = None) -> Corpus:
    """Crawl, chunk, (summarise,) embed and index; write the corpus atomically into the cache."""
    options = options or BuildOptions()
    if options.chunker not in CHUNKERS:
        raise CorpusError(f"unknown chunker '{options.chunker}'", f"choose one of: {', '.join(CHUNKERS)}")
    spec = load_spec(component)
    source_name = options.source or spec.default_source
    source = SOURCES.get(source_name)()
    target = corpus_dir(component, options.variant)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{component}-", dir=target.parent))
    timings: dict[str, float] = {}
    try:
        started = time.perf_counter()
        pages, facts = source.collect(spec, options, work)
        timings["crawl_s"] = time.perf_counter() - started
        chunks = chunk_pages(pages, options.chunk_size, options.chunk_overlap, options.chunker)
        summariser = _summarise(chunks, spec, options, timings) if options.summarise else None
        started = time.perf_counter()
        embedder = get_embedder(options.embedder)
        vectors = _embed_chunks(embedder, chunks, target.parent)
        store = VectorStore.from_vectors(vectors, chunks)
        timings["embed_s"] = time.perf_counter() - started
        store.save(work)
        manifest = _manifest(spec, source_name, facts, pages, chunks, summariser, embedder.id, options, timings)
        write_json_atomic(work / MANIFEST, manifest)
        _publish(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info("built corpus %s: %d pages, %d chunks (%s)", component, manifest["pages"], manifest["chunks"],
             ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    _LOADED.pop(f"{default_cache_dir()}::{component}@{options.variant}", None)
    return Corpus(component, target, manifest, VectorStore.load(target))


def _embed_chunks(embedder, chunks: list[dict], folder: Path):
    """The vectors of the chunks' search keys; keys embedded by an earlier build (of any component) are read from
    its cache."""
    if not chunks:
        return _empty(embedder)
    cache = VectorCache(folder / VECTORS_DIR, embedder)
    vectors = cache.embed([c.get("key") or c["text"] for c in chunks])
    cache.save()
    return vectors


def _empty(embedder):
    import numpy as np

    return np.zeros((0, len(embedder.embed(["x"])[0])), dtype="float32")


def _summarise(chunks: list[dict], spec: CorpusSpec, options: BuildOptions, timings: dict) -> str:
    """Replace each chunk's text by an LLM summary (the raw text is kept as `raw`); answers are cached."""
    llm = resolve_llm(options.model)
    started = time.perf_counter()
    for i, chunk in enumerate(chunks, 1):
        prompt = render("summarise", component=spec.component, title=chunk["title"], text=chunk["text"])
        summary = ask(llm, prompt, max_tokens=160, purpose=f"summarise:{spec.component}")
        chunk["raw"], chunk["text"] = chunk["text"], summary or chunk["text"]
        chunk["key"] = chunk["text"]  # the summary is what the index embeds
        if i % 20 == 0:
            log.info("summarised %d/%d chunks of %s", i, len(chunks), spec.component)
    timings["summarise_s"] = time.perf_counter() - started
    return llm.name


def _manifest(spec: CorpusSpec, source: str, facts: dict, pages: list[Page], chunks: list[dict],
              summariser: str | None, embedder_id: str, options: BuildOptions, timings: dict) -> dict:
    return {
        "schema_version": CORPUS_SCHEMA_VERSION,
        "component": spec.component,
        "source": source,
        "package": spec.package,
        "package_version": facts.pop("package_version", None),
        "depth": facts.pop("depth"),
        "pages": len(pages),
        "chunks": len(chunks),
        "variant": options.variant,
        "summariser": summariser,
        "embedder": embedder_id,
        "chunker": options.chunker,
        "chunk_size": options.chunk_size,
        "chunk_overlap": options.chunk_overlap,
        "caps": {k: getattr(options, k) for k in ("max_pages", "max_modules", "max_classes", "max_commands")
                 if getattr(options, k)},
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
        **facts,
    }


def _publish(work: Path, target: Path) -> None:
    """Swap the new build into place (the old one is removed only once the new one is complete)."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}-old-{os.getpid()}")
        os.replace(target, old)
    os.replace(work, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
