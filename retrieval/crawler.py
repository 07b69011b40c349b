"""Fixed-depth crawling of documentation sites.

A `Fetcher` turns a URL into raw HTML (and the URL it ended at); the crawler does the rest the same way for every
fetcher: breadth-first search to a fixed depth, same-site + allowed-prefix filtering, URL normalisation, main-text
extraction and polite limits. Two fetchers are built in, registered exactly as a plugin would be:

- `selenium`: headless Chromium driven by Selenium (what the study used; renders JavaScript sites such as dvc.org);
- `http`: requests + BeautifulSoup, much faster for static pages (Sphinx sites, our rendered API pages).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from typing import Self
from urllib.parse import urldefrag, urljoin, urlsplit, urlunsplit

from benchmark.errors import AdaptbenchError, MissingDependencyError
from benchmark.registry import Registry

log = logging.getLogger(__name__)

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run")
SKIP_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".pdf", ".zip", ".gz", ".tar", ".whl",
                   ".css", ".js", ".json", ".xml", ".txt", ".ipynb", ".mp4", ".woff", ".woff2")
STRIP_TAGS = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "svg", "button")
FENCE = "````"  # around preformatted text (code, docstrings, help) in a page's text; longer than a docstring's own ```
BLOCK_TAGS = ("p", "div", "li", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "br", "tr", "dt", "dd", "section",
              "table", "ul", "ol", "dl", "blockquote")
MAIN_SELECTORS = ("main", "[role=main]", "article", "div.body", "div.document")


class CrawlError(AdaptbenchError):
    """A crawl could not start or a page could not be fetched."""


@dataclass(frozen=True)
class Fetched:
    url: str  # the URL it ended at (after redirects)
    html: str
    title: str = ""


@dataclass(frozen=True)
class Page:
    url: str
    depth: int
    title: str
    text: str


@dataclass
class CrawlLimits:
    max_pages: int = 500
    delay_s: float = 0.0  # pause between fetches (be polite to real sites: the web sources set ~0.5 s)
    timeout_s: float = 20.0  # per page


@dataclass
class CrawlResult:
    pages: list[Page] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # url -> why it was not kept (error, out of scope ...)


# ---------------------------------------------------------------- fetchers


class Fetcher(ABC):
    """Opens once (`with fetcher:`), then fetches pages one by one."""

    def __init__(self, timeout_s: float = 20.0):
        self.timeout_s = timeout_s

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @abstractmethod
    def fetch(self, url: str) -> Fetched:
        """The page's HTML; raise CrawlError when it cannot be fetched."""

    def close(self) -> None:
        return None


FETCHERS: Registry[Fetcher] = Registry("fetcher", Fetcher)


def fetcher(name: str):
    return FETCHERS.register(name)


def get_fetcher(name: str, timeout_s: float = 20.0) -> Fetcher:
    return FETCHERS.get(name)(timeout_s=timeout_s)


@fetcher("http")
class HttpFetcher(Fetcher):
    """requests: static pages only (no JavaScript)."""

    def __init__(self, timeout_s: float = 20.0):
        super().__init__(timeout_s)
        import requests

        self._session = requests.Session()
        self._session.trust_env = False  # no proxies: local servers must stay local
        self._session.headers["User-Agent"] = "adaptbench-crawler/1 (+documentation corpus)"

    def fetch(self, url: str) -> Fetched:
        import requests

        try:
            response = self._session.get(url, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise CrawlError(f"cannot fetch {url}: {exc}") from None
        if response.status_code >= 400:
            raise CrawlError(f"cannot fetch {url}: HTTP {response.status_code}")
        content_type = response.headers.get("Content-Type", "text/html")
        if "html" not in content_type:
            raise CrawlError(f"{url} is not an HTML page ({content_type})")
        if "charset" not in content_type.lower():
            response.encoding = "utf-8"  # requests would assume ISO-8859-1 for text/* without a charset
        return Fetched(url=response.url, html=response.text)

    def close(self) -> None:
        self._session.close()


@fetcher("selenium")
class SeleniumFetcher(Fetcher):
    """Headless Debian Chromium through /usr/bin/chromedriver (Selenium Manager's download is never used)."""

    def __init__(self, timeout_s: float = 20.0):
        super().__init__(timeout_s)
        self._driver = None
        self._profile: str | None = None

    def __enter__(self) -> Self:
        self._start()
        return self

    def _start(self) -> None:
        try:
            from selenium import webdriver
            from selenium.webdriver.chrome.service import Service
        except ImportError:
            raise MissingDependencyError("selenium", "crawling with the selenium fetcher") from None
        for path, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
            if not shutil.which(path):
                raise CrawlError(f"{path} not found", f"install it: apt-get install {pkg} (or use --fetcher http)")
        self._profile = tempfile.mkdtemp(prefix="adaptbench-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*CHROME_FLAGS, f"--user-data-dir={self._profile}", "--no-proxy-server"):
            options.add_argument(flag)
        started = time.perf_counter()
        self._driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self._driver.set_page_load_timeout(self.timeout_s)
        log.debug("chromium started in %.1f s", time.perf_counter() - started)

    def fetch(self, url: str) -> Fetched:
        from selenium.common.exceptions import WebDriverException

        if self._driver is None:
            self._start()
        try:
            self._driver.get(url)
            return Fetched(url=self._driver.current_url, html=self._driver.page_source, title=self._driver.title)
        except WebDriverException as exc:
            raise CrawlError(f"cannot fetch {url}: {exc.msg or type(exc).__name__}") from None

    def close(self) -> None:
        if self._driver is not None:
            self._driver.quit()
            self._driver = None
        if self._profile:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None


# ---------------------------------------------------------------- URLs


def normalise_url(url: str) -> str:
    """One spelling per page: no fragment, lower-case scheme and host, no default port, no trailing slash."""
    url, _ = urldefrag(url.strip())
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port
    if port and not ((parts.scheme == "http" and port == 80) or (parts.scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    path = parts.path or "/"
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    return urlunsplit((parts.scheme.lower(), host, path, parts.query, ""))


class Scope:
    """Which URLs a crawl may visit: http(s), the start URLs' sites, under an allowed prefix, not a binary file."""

    def __init__(self, start_urls: list[str], allowed_prefixes: list[str] | None = None):
        self.sites = {urlsplit(normalise_url(u)).netloc for u in start_urls}
        self.prefixes = [normalise_url(p) for p in (allowed_prefixes or start_urls)]

    def why_not(self, url: str) -> str | None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return "not http(s)"
        if parts.netloc not in self.sites:
            return "off-site"
        if not any(_under(url, prefix) for prefix in self.prefixes):
            return "outside the allowed prefixes"
        if parts.path.lower().endswith(SKIP_EXTENSIONS):
            return "not a page"
        return None


def _under(url: str, prefix: str) -> bool:
    if url == prefix or url.startswith((prefix.rstrip("/") + "/", prefix + "?")):
        return True
    # a prefix naming a file ("…/index.html") allows its folder
    folder = prefix.rsplit("/", 1)[0]
    return "." in prefix.rsplit("/", 1)[-1] and url.startswith(folder + "/")


# ---------------------------------------------------------------- extraction


def extract(html: str, base_url: str) -> tuple[str, str, list[str]]:
    """(title, main text, normalised absolute links) of an HTML page."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    links = [normalise_url(urljoin(base_url, a["href"])) for a in soup.find_all("a", href=True)
             if not a["href"].startswith(("mailto:", "javascript:", "tel:"))]
    return title, main_text(soup), list(dict.fromkeys(links))


def main_text(soup) -> str:
    """The page's main content as text; navigation, headers, footers, scripts and styles removed."""
    for tag in soup.find_all(STRIP_TAGS):
        tag.decompose()
    root = next((found for sel in MAIN_SELECTORS if (found := soup.select_one(sel)) is not None), None)
    root = root or soup.body or soup
    for level in range(1, 7):
        for heading in root.find_all(f"h{level}"):
            heading.string = "#" * min(level, 4) + " " + " ".join(heading.get_text().split())  # one line
    for pre in root.find_all("pre"):  # fenced as markdown: a `# comment` in a code example is not a heading
        pre.insert_before(f"\n{FENCE}\n")
        pre.insert_after(f"\n{FENCE}\n")
    for block in root.find_all(BLOCK_TAGS):
        block.insert_after("\n")  # inline markup joins its text; blocks end their line
    lines = (line.rstrip() for line in root.get_text().splitlines())
    text, blank = [], False
    for line in lines:
        if line.strip():
            text.append(line)
            blank = False
        elif not blank:
            text.append("")
            blank = True
    return "\n".join(text).strip()


# ---------------------------------------------------------------- the crawl


def crawl(start_urls: list[str], depth: int, fetcher: Fetcher | str = "selenium",
          allowed_prefixes: list[str] | None = None, limits: CrawlLimits | None = None) -> CrawlResult:
    """Breadth-first crawl from `start_urls` (depth 0) following links up to `depth` hops."""
    limits = limits or CrawlLimits()
    own = isinstance(fetcher, str)
    active = get_fetcher(fetcher, limits.timeout_s) if own else fetcher
    try:
        if own:
            active.__enter__()
        return _bfs([normalise_url(u) for u in start_urls], depth, active, Scope(start_urls, allowed_prefixes),
                    limits)
    finally:
        if own:
            active.close()


def _bfs(starts: list[str], depth: int, fetcher: Fetcher, scope: Scope, limits: CrawlLimits) -> CrawlResult:
    result = CrawlResult()
    queue = deque((url, 0) for url in starts)
    seen = set(starts)
    started = time.perf_counter()
    while queue and len(result.pages) < limits.max_pages:
        url, level = queue.popleft()
        page_links = _visit(url, level, fetcher, scope, result)
        if level < depth:
            for link in page_links:
                if link not in seen:
                    seen.add(link)
                    if (why := scope.why_not(link)) is None:
                        queue.append((link, level + 1))
                    else:
                        result.skipped[link] = why
        if queue and limits.delay_s:
            time.sleep(limits.delay_s)
    if queue:
        log.warning("crawl stopped at max_pages=%d with %d URLs still queued", limits.max_pages, len(queue))
    log.info("crawled %d pages (depth %d) in %.1f s", len(result.pages), depth, time.perf_counter() - started)
    return result


def _visit(url: str, level: int, fetcher: Fetcher, scope: Scope, result: CrawlResult) -> list[str]:
    try:
        fetched = fetcher.fetch(url)
    except CrawlError as exc:
        log.warning("%s", exc.message)
        result.skipped[url] = exc.message
        return []
    final = normalise_url(fetched.url)
    if final != url and scope.why_not(final):
        result.skipped[url] = f"redirected out of scope to {final}"
        return []
    title, text, links = extract(fetched.html, fetched.url)
    if text and not any(page.url == final for page in result.pages):
        result.pages.append(Page(url=final, depth=level, title=fetched.title or title, text=text))
    log.debug("depth %d: %s (%d links)", level, final, len(links))
    return links
