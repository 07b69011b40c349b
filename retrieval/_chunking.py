"""Pages -> chunks with LangChain's RecursiveCharacterTextSplitter (headings first, then paragraphs, lines, words)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from .crawler import Page

CHUNK_SIZE = 1000  # characters; all-MiniLM-L6-v2 reads ~256 word pieces, about this much English
CHUNK_OVERLAP = 100
SEPARATORS = ["\n# ", "\n## ", "\n### ", "\n#### ", "\n\n", "\n", " ", ""]
_HEADING = re.compile(r"^#{1,4} +(.+)$", re.MULTILINE)


def chunk_pages(pages: Iterable[Page], size: int = CHUNK_SIZE, overlap: int = CHUNK_OVERLAP) -> list[dict]:
    """One dict per chunk: id, title (page title, and the chunk's first heading), text, source URL, depth, hash."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=overlap, separators=SEPARATORS,
                                              keep_separator="start", strip_whitespace=True)
    chunks = []
    for page in pages:
        for text in splitter.split_text(page.text):
            heading = _HEADING.search(text)
            title = page.title if heading is None else f"{page.title} › {heading.group(1).strip()}"
            chunks.append({"id": len(chunks), "title": title, "text": text, "source": page.url,
                           "depth": page.depth, "hash": text_hash(text)})
    return chunks


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
