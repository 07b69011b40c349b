"""A FAISS inner-product index over unit vectors, saved beside the chunks it indexes."""

from __future__ import annotations

import json
from pathlib import Path

from benchmark.errors import AdaptbenchError

INDEX_FILE = "index.faiss"
CHUNKS_FILE = "chunks.jsonl"


class VectorStore:
    """`chunks[i]` is the document behind row i of the index (a dict: title, text, source, ...)."""

    def __init__(self, index, chunks: list[dict]):
        if index.ntotal != len(chunks):
            raise AdaptbenchError(f"vector store holds {index.ntotal} vectors for {len(chunks)} chunks",
                                  "rebuild the corpus: adaptbench corpus build <component>")
        self.index, self.chunks = index, chunks

    @classmethod
    def from_vectors(cls, vectors, chunks: list[dict]) -> VectorStore:
        import faiss

        index = faiss.IndexFlatIP(int(vectors.shape[1]))
        if len(chunks):
            index.add(vectors)
        return cls(index, chunks)

    def search(self, vectors, k: int) -> list[list[tuple[int, float]]]:
        """For each query vector, the k best (chunk position, cosine score), best first."""
        if not self.chunks or k <= 0:
            return [[] for _ in range(len(vectors))]
        scores, ids = self.index.search(vectors, min(k, len(self.chunks)))
        return [[(int(i), float(s)) for i, s in zip(row_ids, row_scores) if i >= 0]
                for row_ids, row_scores in zip(ids, scores)]

    def save(self, folder: Path) -> None:
        import faiss

        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(folder / INDEX_FILE))
        with open(folder / CHUNKS_FILE, "w") as fh:
            fh.writelines(json.dumps(chunk) + "\n" for chunk in self.chunks)

    @classmethod
    def load(cls, folder: Path) -> VectorStore:
        import faiss

        with open(folder / CHUNKS_FILE) as fh:
            chunks = [json.loads(line) for line in fh if line.strip()]
        return cls(faiss.read_index(str(folder / INDEX_FILE)), chunks)
