"""The crawler on a real local site: fixed depth, same site, allowed prefix, normalised URLs, main text only."""

import pytest

from benchmark.errors import UnknownNameError
from retrieval import FETCHERS, CrawlLimits, crawl, normalise_url

from .conftest import EXPECTED


@pytest.mark.parametrize("raw, normal", [
    ("HTTP://Example.ORG:80/a/b/#frag", "http://example.org/a/b"),
    ("https://example.org:443/", "https://example.org/"),
    ("http://127.0.0.1:8000/docs/?q=1#x", "http://127.0.0.1:8000/docs?q=1"),
    ("http://h/x.html#", "http://h/x.html"),
])
def test_normalise_url(raw, normal):
    assert normalise_url(raw) == normal


def _check_exact(result, site):
    _, _, base, offsite_hits = site
    got = {page.url.removeprefix(base + "/"): page.depth for page in result.pages}
    assert got == EXPECTED  # nothing beyond depth 2, nothing off-site or outside /docs/, each page once
    assert offsite_hits == []  # the other server was never contacted
    reasons = {url.removeprefix(base + "/"): why for url, why in result.skipped.items()}
    assert reasons["private/secret.html"] == "outside the allowed prefixes"
    assert any(why == "off-site" for why in result.skipped.values())
    page_a = next(p for p in result.pages if p.url.endswith("docs/a.html"))
    assert page_a.title == "Page A" and "Depth one page about adding files." in page_a.text
    for page in result.pages:
        for noise in ("NAVTEXT", "HEADERTEXT", "FOOTERTEXT", "SCRIPTTEXT", "color: red"):
            assert noise not in page.text


@pytest.mark.parametrize("name", ["http", "selenium"])
def test_crawl_depth_two_gets_exactly_the_expected_pages(site, name):
    start, prefix, _, _ = site
    result = crawl([start], depth=2, fetcher=name, allowed_prefixes=[prefix])
    _check_exact(result, site)


def test_depth_zero_is_the_start_page_only(site):
    start, prefix, base, _ = site
    result = crawl([start], depth=0, fetcher="http", allowed_prefixes=[prefix])
    assert [p.url for p in result.pages] == [f"{base}/docs/index.html"]


def test_max_pages_stops_the_crawl(site):
    start, prefix, _, _ = site
    result = crawl([start], depth=3, fetcher="http", allowed_prefixes=[prefix], limits=CrawlLimits(max_pages=2))
    assert len(result.pages) == 2


def test_unknown_fetcher_names_the_known_ones():
    with pytest.raises(UnknownNameError) as err:
        FETCHERS.get("selenum")
    assert "selenium" in err.value.hint


def test_preformatted_text_is_fenced_so_its_comments_stay_code():
    from bs4 import BeautifulSoup

    from retrieval.crawler import FENCE, main_text

    page = "<main><h3>wandb.Run.log(data)</h3><pre># Log a metric\nrun.log({'loss': 1})</pre></main>"
    assert [line for line in main_text(BeautifulSoup(page, "html.parser")).splitlines() if line] == [
        "### wandb.Run.log(data)", FENCE, "# Log a metric", "run.log({'loss': 1})", FENCE]
