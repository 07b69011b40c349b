"""Chunking: one API entry per chunk, its heading repeated on every part; the older character windows for comparison."""

import pytest

from retrieval._chunking import chunk_pages, sections
from retrieval.crawler import Page

PAGE = """# dvc.repo.Repo — class
Defined in dvc.repo.Repo.

## Functions

### dvc.repo.Repo.add(targets, no_commit=False)
method
Runs behind the command line dvc add: Track data files or directories with DVC.

### dvc.repo.Repo.push(targets=None, remote=None)
method
""" + "\n\n".join(f"Paragraph {i} about pushing data to remote storage, long enough to matter." for i in range(40))


def _chunks(**kwargs):
    return chunk_pages([Page(url="installed://dvc/cls/x.html", depth=2, title="Repo", text=PAGE)], **kwargs)


def test_sections_follow_the_headings_and_keep_their_bodies():
    found = sections(PAGE)
    assert [h for h, _ in found] == ["# dvc.repo.Repo — class", "## Functions",
                                     "### dvc.repo.Repo.add(targets, no_commit=False)",
                                     "### dvc.repo.Repo.push(targets=None, remote=None)"]
    assert found[1][1] == "" and found[2][1].startswith("method\nRuns behind")


def test_one_chunk_per_entry_and_every_part_names_its_entry():
    chunks = _chunks(size=800)
    titles = [c["title"] for c in chunks]
    assert titles[0] == "Repo › dvc.repo.Repo — class"
    assert not any(t.endswith("› Functions") for t in titles)  # a heading with nothing under it is no chunk
    add = [c for c in chunks if "Repo.add(" in c["title"]]
    assert len(add) == 1 and "Track data files" in add[0]["text"]
    push = [c for c in chunks if "Repo.push(" in c["text"].splitlines()[0]]
    assert len(push) > 2 and all(len(c["text"]) <= 800 for c in push)
    assert push[0]["text"].startswith("### dvc.repo.Repo.push(targets=None, remote=None)\nmethod")
    assert all(c["text"].startswith("### dvc.repo.Repo.push(targets=None, remote=None) (continued)\n")
               for c in push[1:])
    assert "Paragraph 39" in push[-1]["text"]
    assert [c["id"] for c in chunks] == list(range(len(chunks))) and len({c["hash"] for c in chunks}) == len(chunks)


def test_character_windows_ignore_entries():
    chunks = _chunks(size=400, overlap=50, chunker="characters")
    assert all(len(c["text"]) <= 400 for c in chunks)
    assert sum("Repo.push(" in c["text"] for c in chunks) == 1  # later parts of the entry do not name it
    with pytest.raises(ValueError, match="unknown chunker"):
        _chunks(chunker="pages")


EXAMPLE = """### wandb.Run.use_artifact(artifact_or_name, type, aliases)
method
Declare an artifact as an input to a run.
````
Examples:
```python
# Use an artifact by name and alias
artifact = run.use_artifact("my-art:latest")
```
````
Signature: wandb.Run.use_artifact(self, artifact_or_name: str | Artifact, type: str | None = None) -> Artifact

### wandb.Run.log(data, step, commit)
method
Upload run data."""


def test_a_comment_in_a_code_example_is_no_heading():
    chunks = chunk_pages([Page(url="installed://wandb/cls/x.html", depth=2, title="Run", text=EXAMPLE)])
    assert [c["text"].splitlines()[0] for c in chunks] == [
        "### wandb.Run.use_artifact(artifact_or_name, type, aliases)", "### wandb.Run.log(data, step, commit)"]
    assert "# Use an artifact by name and alias" in chunks[0]["text"]


def test_the_index_embeds_what_an_entry_is_not_its_typed_signature():
    use, log = chunk_pages([Page(url="installed://wandb/cls/x.html", depth=2, title="Run", text=EXAMPLE)])
    assert use["key"].splitlines()[:3] == ["wandb Run use artifact",
                                           "wandb.Run.use_artifact(artifact_or_name, type, aliases)",
                                           "Declare an artifact as an input to a run."]
    assert "Signature:" not in use["key"] and "````" not in use["key"] and "method" not in use["key"].split("\n")
    assert log["key"] == "wandb Run log\nwandb.Run.log(data, step, commit)\nUpload run data."
    summary = "## wandb.Run members\nwandb.Run.log(data, step, commit) — Upload run data."
    (part,) = chunk_pages([Page(url="installed://wandb/cls/x.html", depth=2, title="Run", text=summary)])
    assert part["key"] == part["text"]  # a list of entries is searched as it reads
