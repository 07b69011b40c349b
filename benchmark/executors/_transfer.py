"""Moving files between the driver and a node as tarballs in memory: a task's own files to the node (so nodes
need no copy of the task folders), a graded work dir back to the driver (bounded, without caches and scratch
space the checkers never read). A work dir is the candidate's territory, so unpacking one never writes outside
its destination: absolute names, `..`, links pointing out and device files are skipped."""

from __future__ import annotations

import io
import logging
import os
import shutil
import tarfile
import threading
from pathlib import Path

from ..errors import AdaptbenchError
from ..types import Task

log = logging.getLogger(__name__)
# scratch the sandbox gives a script (HOME's caches, TMPDIR, DVC's site cache) and byte code: no checker reads them
JUNK = (".home/.cache", ".tmp", ".dvc-site-cache", ".adaptbench/nsroot")
JUNK_NAMES = {"__pycache__"}
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


# ---------------------------------------------------------------- task files, driver -> node

def pack_task(task: Task) -> bytes:
    """The task's input, reference and fixtures, each under a folder of its own (fixture names may repeat)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        for slot, path in _task_paths(task):
            if path.exists():
                tar.add(path, arcname=f"{slot}/{path.name}")
    return buffer.getvalue()


def _task_paths(task: Task) -> list[tuple[str, Path]]:
    return [("input", task.input_path), ("reference", task.reference_path),
            *((f"fixture{i}", fixture) for i, fixture in enumerate(task.fixtures))]


def task_on_node(task: Task, fingerprint: str, packed: bytes, root: Path) -> Task:
    """`task` itself when its files are here as they are on the driver (`fingerprint`: the driver's), as on a
    shared path or in the same checkout; otherwise a copy pointing at its files unpacked once under
    `root/<fingerprint>/`."""
    if _fingerprint_here(task) == fingerprint:
        return task
    folder = Path(root) / fingerprint
    if not folder.is_dir():
        staging = Path(root) / f".{fingerprint}.{os.getpid()}.{threading.get_ident()}"
        shutil.rmtree(staging, ignore_errors=True)
        unpack(packed, staging)
        try:
            staging.rename(folder)
        except OSError:  # another worker of this node unpacked it first
            shutil.rmtree(staging, ignore_errors=True)
    moved = {slot: folder / slot / path.name for slot, path in _task_paths(task)}
    local = task.model_copy(update={
        "input_path": moved["input"], "reference_path": moved["reference"], "folder": folder,
        "fixtures": tuple(moved[f"fixture{i}"] for i in range(len(task.fixtures)))})
    if _fingerprint_here(local) != fingerprint:
        raise AdaptbenchError(f"task {task.id}: its files unpacked on this node do not match the driver's",
                              f"remove {folder} on the node and run again")
    return local


def _fingerprint_here(task: Task) -> str | None:
    try:
        return task.fingerprint()
    except OSError:
        return None


# ---------------------------------------------------------------- work dirs, node -> driver

def pack_workdir(workdir: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[bytes | None, str]:
    """The work dir as a tarball, or None (and why) when its files would exceed `max_bytes`."""
    workdir = Path(workdir)
    members, total = _members(workdir)
    if total > max_bytes:
        return None, f"{total / 2**20:.0f} MiB of files, over the {max_bytes / 2**20:.0f} MiB a work dir may bring back"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        for path in members:
            tar.add(path, arcname=path.relative_to(workdir).as_posix(), recursive=False)
    return buffer.getvalue(), ""


def _members(workdir: Path) -> tuple[list[Path], int]:
    """Directories, regular files and symlinks to keep (never followed), and the regular files' total size."""
    members, total = [], 0
    for parent, dirs, files in os.walk(workdir, followlinks=False):
        here = Path(parent)
        dirs[:] = [d for d in dirs if not _junk(here / d, workdir)]
        for name in (*dirs, *files):
            path = here / name
            info = path.lstat()
            if path.is_symlink() or path.is_dir():
                members.append(path)
            elif path.is_file():
                members.append(path)
                total += info.st_size
    return members, total


def _junk(path: Path, workdir: Path) -> bool:
    return path.name in JUNK_NAMES or path.relative_to(workdir).as_posix() in JUNK


def unpack(packed: bytes, destination: Path) -> None:
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(packed), mode="r:*") as tar:
        tar.extractall(destination, filter=_safe_member)


def _safe_member(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
    try:
        return tarfile.data_filter(member, path)
    except tarfile.FilterError as exc:
        log.warning("not unpacking %s: %s", member.name, exc)
        return None
