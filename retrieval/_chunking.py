"""Pages -> chunks. Two chunkers, a registry-free choice recorded in the manifest:

- `entries` (default): one chunk per documented entry, i.e. per heading and what follows it up to the next heading
  (an API entry's qualified name and signature, its kind, its docstring; a command's description and help; a
  summary list). An entry longer than the chunk size is cut at paragraphs, then lines, and every part starts with
  the entry's heading again, so each chunk says which API it documents. Headings with nothing under them are dropped.
- `characters`: LangChain's RecursiveCharacterTextSplitter over the whole page (headings first, then paragraphs,
  lines, words), with overlap: what the corpora used before, kept to measure against.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from .crawler import Page

CHUNK_SIZE = 2000  # characters: one API entry whole (most are shorter), still a few per prompt
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
            chunks.append({"id": len(chunks), "title": title, "text": text, "source": page.url,
                           "depth": page.depth, "hash": text_hash(text)})
    return chunks


def _characters(text: str, size: int, overlap: int) -> list[str]:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=overlap, separators=SEPARATORS,
                                              keep_separator="start", strip_whitespace=True)
    return splitter.split_text(text)


def sections(text: str) -> list[tuple[str, str]]:
    """(heading line or "", body) for each heading of a page's text, in order."""
    out: list[tuple[str, list[str]]] = [("", [])]
    for line in text.splitlines():
        if _HEADING.match(line):
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


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
