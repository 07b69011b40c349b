"""Chunking with LangChain's splitter, embedding with all-MiniLM-L6-v2 and FAISS search."""

from retrieval import Page, get_embedder
from retrieval._chunking import chunk_pages
from retrieval._store import VectorStore

TOPICS = {
    "push": "Upload tracked data files and directories to remote storage so that teammates can download them.",
    "init": "Create a new empty project repository and set up its configuration files in the current folder.",
    "tag": "Attach a human readable release name such as v1.0 to a specific commit in the history.",
    "plot": "Draw line charts of training metrics over the epochs and save them as images.",
}


def _pages():
    filler = " ".join(f"Paragraph filler sentence number {i} about nothing in particular." for i in range(30))
    return [Page(url=f"http://docs/{name}.html", depth=1, title=f"{name} page",
                 text=f"# {name}\n\n{text}\n\n{filler}") for name, text in TOPICS.items()]


def test_chunks_are_bounded_and_titled():
    chunks = chunk_pages(_pages(), size=400, overlap=40)
    assert len(chunks) > len(TOPICS)  # each page splits
    assert all(len(c["text"]) <= 400 for c in chunks)
    first = next(c for c in chunks if c["source"] == "http://docs/push.html")
    assert first["title"] == "push page › push" and first["text"].startswith("# push")
    assert [c["id"] for c in chunks] == list(range(len(chunks)))


def test_faiss_search_finds_the_right_chunk(tmp_path):
    chunks = chunk_pages(_pages(), size=400, overlap=40)
    embedder = get_embedder("minilm")
    store = VectorStore.from_vectors(embedder.embed([c["text"] for c in chunks]), chunks)
    store.save(tmp_path)
    store = VectorStore.load(tmp_path)
    queries = {"push": "send my dataset to the remote server", "tag": "label a commit as a release version",
               "plot": "visualise the loss curve"}
    hits = store.search(embedder.embed(list(queries.values())), k=1)
    for (topic, _), row in zip(queries.items(), hits):
        position, score = row[0]
        assert store.chunks[position]["source"] == f"http://docs/{topic}.html" and score > 0.2
