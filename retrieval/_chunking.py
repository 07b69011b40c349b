"""Pages -> chunks, each with the search key the index embeds for it (`search_key`). Two chunkers, a registry-free
choice recorded in the manifest:

- `entries` (default): one chunk per documented entry, i.e. per heading and what follows it up to the next heading
  (an API entry's qualified name and parameters, its kind, its docstring; a command's description and help; a
  summary list). An entry longer than the chunk size is cut at paragraphs, then lines, and every part starts with
  the entry's heading again, so each chunk says which API it documents. Headings with nothing under them are dropped,
  and a `#` line inside preformatted text (a comment in a code example) is no heading.
- `characters`: LangChain's RecursiveCharacterTextSplitter over the whole page (headings first, then paragraphs,
  lines, words), with overlap: what the corpora used before, kept to measure against.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from .crawler import FENCE, Page

CHUNK_SIZE = 4000  # characters: one API entry whole, its examples included (94-99 % of the entries of the corpora)
KEY_BODY = 400  # characters of an entry's text, after its heading, that its search key holds
CHUNK_OVERLAP = 0  # entries need none; the `characters` chunker used 100
CHUNKERS = ("entries", "characters")
DEFAULT_CHUNKER = "entries"
SEPARATORS = ["\n# ", "\n## ", "\n### ", "\n#### ", "\n\n", "\n", " ", ""]
_HEADING = re.compile(r"^#{1,4} +(.+)$", re.MULTILINE)


def chunk_pages(pages: Iterable[Page], size: int = CHUNK_SIZE, overlap: int = CHUNK_OVERLAP,
                chunker: str = DEFAULT_CHUNKER) -> list[dict]:
    """One dict per chunk: id, title (page title, and the chunk's heading), text, source URL, depth, hash."""
    if chunker not in CHUNKERS:
        raise ValueError(f"unknown chunker {chunker!r} (known: {', '.join(CHUNKERS)})")
    split = _entries if chunker == "entries" else _characters
    chunks = []
    for page in pages:
        for text in split(page.text, size, overlap):
            heading = _HEADING.search(text)
            title = page.title if heading is None else f"{page.title} › {heading.group(1).strip()}"
            chunks.append({"id": len(chunks), "title": title, "text": text, "key": search_key(text),
                           "source": page.url, "depth": page.depth, "hash": text_hash(text)})
    return chunks


def _characters(text: str, size: int, overlap: int) -> list[str]:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=overlap, separators=SEPARATORS,
                                              keep_separator="start", strip_whitespace=True)
    return splitter.split_text(text)


def sections(text: str) -> list[tuple[str, str]]:
    """(heading line or "", body) for each heading of a page's text, in order. Within preformatted text (fenced
    by the crawler) a line that starts with `#` is a comment of a code example, not a heading."""
    out: list[tuple[str, list[str]]] = [("", [])]
    fenced = False
    for line in text.splitlines():
        if line.strip() == FENCE:
            fenced = not fenced
        if _HEADING.match(line) and not fenced:
            out.append((line.strip(), []))
        else:
            out[-1][1].append(line)
    return [(heading, "\n".join(body).strip()) for heading, body in out if heading or "\n".join(body).strip()]


def _entries(text: str, size: int, overlap: int) -> list[str]:
    chunks = []
    for heading, body in sections(text):
        if not body:
            continue  # a heading that only groups the entries below it
        whole = f"{heading}\n{body}" if heading else body
        if len(whole) <= size:
            chunks.append(whole)
            continue
        room = max(size - len(heading) - len(" (continued)") - 1, size // 4)
        for i, part in enumerate(_characters(body, room, min(overlap, room // 4))):
            label = heading if i == 0 or not heading else f"{heading} (continued)"
            chunks.append(f"{label}\n{part}" if label else part)
    return chunks


_KINDS = frozenset({"function", "method", "classmethod", "staticmethod", "property"})
_LISTING = re.compile(r" (?:API summary|members)(?: \(continued\))?$")


def search_key(text: str) -> str:
    """What the index embeds for a chunk: an entry's name (also as words, `dvc repo Repo push`), its heading and
    what it says first (the first paragraph of its docstring, the command it runs), without its typed signature
    and code fences. An embedder reads a few hundred tokens of a text; the key puts what the entry is about into
    them, and a search still returns the whole entry. A summary part (a list of entries) is its own key."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not _HEADING.match(lines[0]) or _LISTING.search(lines[0]):
        return text
    heading = lines[0].lstrip("#").strip()
    name = heading.removeprefix("class ").split("(")[0].removesuffix(" (continued)")
    body = [line for line in lines[1:] if line.strip() not in _KINDS and line.strip() != FENCE
            and not line.startswith("Signature: ")]
    return "\n".join([re.sub(r"[._]+", " ", name), heading, "\n".join(body)[:KEY_BODY]]).strip()


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
