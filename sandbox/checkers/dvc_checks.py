"""Data versioned with DVC: the data paths are tracked by DVC files committed to git, the data itself is
not in git (nor left to git-lfs), and its objects were pushed to a configured DVC remote.

Everything is read from the work dir without running anything it configured: the git repository through
read-only `git` plumbing with hooks, fsmonitor, replace refs and outside config switched off; the `.dvc`
files, `dvc.lock` and `.dvc/config` as plain YAML/INI; the remote as a directory of content-addressed files.
Only the optional cross-check with DVC's own `status(cloud=True)` runs DVC, and it does so in the sandbox: in the
warm probe forked at the script's start-up (sandbox/checkers/_warm.py), which asks for the status of every output
against the default remote when the script ends, and, unless that answer is an empty status against the remote
the checker found itself, in a fresh probe through `ctx.run_probe` with the exact targets.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from benchmark.types import Task

from ._warm import warm_record, warm_source
from .base import CheckContext, Checker, checker

log = logging.getLogger(__name__)

# work dir folders that never hold the project's data or tracking files
SKIP_DIRS = {".git", ".dvc", ".adaptbench", ".home", ".tmp", ".dvc-site-cache", "__pycache__"}
MAX_TRACKING_FILES = 500
MAX_HISTORY = 100  # commits of HEAD's history inspected
LFS_POINTER_PREFIX = b"version https://git-lfs"
GIT_TIMEOUT_S = 60


class DvcTrackingArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    paths: list[str] = Field(min_length=1)  # data the script versions, relative to the work dir (globs allowed)
    remote: str | None = None  # the DVC remote must have this name (default: the default remote)
    remote_path: str | None = None  # the remote must be this local directory (relative to the work dir)
    tag: str | None = None  # this git tag must point at a commit holding the current tracking files
    versions: list[str] = []  # other git revisions (tags) whose version of the data must be in the remote
    history: bool = False  # every version of the data recorded in HEAD's history must be in the remote, none in git
    stages: list[str] = []  # a DVC pipeline: these stages in dvc.yaml, run by DVC (dvc.lock matches the workspace)
    cloud_status: bool = True  # cross-check with DVC's own status (cloud=True), run in the sandbox


class Problem(Exception):
    """One failed requirement: a code from this module and what a person reads."""

    def __init__(self, code: str, reason: str, **details: Any):
        super().__init__(reason)
        self.code, self.reason, self.details = code, reason, details


@dataclass(frozen=True)
class Out:
    """One DVC output: `path` relative to the work dir (posix), from the tracking file `source`."""

    path: str
    source: str
    md5: str | None
    legacy: bool  # DVC 2.x hash: objects at <remote>/<2>/<rest> instead of <remote>/files/md5/<2>/<rest>
    cache: bool = True
    push: bool = True
    remote: str | None = None

    @property
    def is_dir(self) -> bool:
        return bool(self.md5 and self.md5.endswith(".dir"))

    def covers(self, path: str) -> bool:
        return path == self.path or path.startswith(self.path.rstrip("/") + "/")


@dataclass
class State:
    """What the checks found out so far; later checks build on it."""

    files: list[str] = field(default_factory=list)
    outs: dict[str, Out] = field(default_factory=dict)  # data file -> the out tracking it
    head: dict[str, tuple[str, int]] = field(default_factory=dict)  # path -> (blob sha, size) in HEAD
    remote_name: str | None = None
    remote_dir: Path | None = None
    pipeline: dict[str, Any] = field(default_factory=dict)  # dvc.yaml stages (pipeline tasks)


# ---------------------------------------------------------------- the checker


@checker("dvc_tracking")
class DvcTrackingChecker(Checker):
    Args = DvcTrackingArgs
    version = 3

    def probe_for(self, task: Task) -> str | None:
        if not self.args.cloud_status:
            return None
        # niced: its work at the script's exit is short, so it need not keep up with the script's own git and DVC
        return warm_source(WARM_STATUS, WARM_EVENT, list(WARM_IMPORTS), {"pipeline": bool(self.args.stages)})

    def check(self, ctx: CheckContext):
        workdir = Path(ctx.workdir).resolve()
        git = GitReader(workdir)
        state = State()
        steps = (self._initialised, self._pipeline, self._tracked, self._committed, self._not_in_git, self._no_lfs,
                 self._remote, self._pushed, self._fresh, self._tagged, self._versions)
        try:
            for step in steps:
                step(workdir, git, state)
            if self.args.cloud_status:
                self._cloud_status(ctx, state)
        except Problem as problem:
            return self.fail(problem.code, problem.reason, **problem.details)
        tracking = sorted({out.source for out in state.outs.values()})
        extra = "".join((f"; pipeline stages {', '.join(self.args.stages)} run by DVC" if self.args.stages else "",
                         f"; versions {', '.join(self.args.versions)} pushed too" if self.args.versions else "",
                         "; every version in the git history pushed" if self.args.history else ""))
        return self.ok(f"{len(state.files)} data file(s) tracked by {', '.join(tracking)}, committed to git and "
                       f"pushed to DVC remote '{state.remote_name}'{extra}", files=state.files, tracking=tracking)

    # -- each step raises Problem or records what the next steps need

    def _initialised(self, workdir: Path, git: GitReader, state: State) -> None:
        if not (workdir / ".dvc").is_dir() or (workdir / ".dvc").is_symlink():
            raise Problem("dvc.not_initialised", "the work dir is not a DVC repository (no .dvc/ folder): "
                          "DVC was never initialised (`dvc init` / `dvc.repo.Repo.init()`)")
        if not git.is_repo():
            raise Problem("dvc.not_committed", "the work dir is no longer a git repository: the DVC files "
                          "cannot have been committed")

    def _tracked(self, workdir: Path, git: GitReader, state: State) -> None:
        state.files = expand_paths(workdir, self.args.paths)
        if not state.files:
            raise Problem("dvc.not_tracked", f"no data file matches {', '.join(self.args.paths)} in the work dir: the "
                          "script must still write its data there (DVC tracks it, the files stay in the workspace)")
        outs = load_outs(workdir)
        untracked = []
        for path in state.files:
            out = next((o for o in outs if o.covers(path)), None)
            if out is None:
                untracked.append(path)
            else:
                state.outs[path] = out
        if untracked:
            how = "declare it as an output of the stage that writes it" if self.args.stages else "run dvc add on it"
            raise Problem("dvc.not_tracked", f"not tracked by any .dvc file or dvc.lock output: {', '.join(untracked)}"
                          f": {how}", untracked=untracked)
        uncached = sorted({o.path for o in state.outs.values() if not o.cache or not o.md5})
        if uncached:
            raise Problem("dvc.not_tracked", f"DVC does not store the content of {', '.join(uncached)} "
                          "(cache: false or no hash recorded): let DVC cache it", outs=uncached)
        if self.args.stages:
            added = sorted({f"{o.path} ({o.source})" for o in state.outs.values() if o.source != "dvc.lock"})
            if added:
                raise Problem("dvc.not_pipeline_output", f"tracked with dvc add instead of as pipeline outputs: "
                              f"{', '.join(added)}: declare them in the outs of the stage that writes them and "
                              "let dvc repro record them in dvc.lock", outs=added)

    def _committed(self, workdir: Path, git: GitReader, state: State) -> None:
        state.head = git.tree("HEAD")
        if not state.head:
            raise Problem("dvc.not_committed", "the git repository has no commit")
        needed = sorted({o.source for o in state.outs.values()} | ({"dvc.yaml"} if self.args.stages else set()))
        missing = [p for p in [*needed, ".dvc/config"] if p not in state.head]  # no DVC repo in a clone without it
        changed = [p for p in needed if p in state.head and state.head[p][0] != blob_sha(workdir / p)]
        if missing or changed:
            reason = "; ".join(filter(None, (
                missing and f"not committed to git: {', '.join(missing)}",
                changed and f"changed since the last commit: {', '.join(changed)}")))
            raise Problem("dvc.not_committed", f"{reason}: git add and commit them after DVC wrote them",
                          missing=missing, changed=changed)

    def _not_in_git(self, workdir: Path, git: GitReader, state: State) -> None:
        at_path = [p for p in state.head if any(out.covers(p) for out in state.outs.values())]
        pointers = [p for p in at_path if git.is_lfs_pointer(*state.head[p])]
        if pointers:
            raise Problem("dvc.lfs_left", f"git-lfs pointers still committed for: {', '.join(pointers)}: remove "
                          "them from git (git rm --cached) and let DVC track the files", paths=pointers)
        by_sha = {blob_sha(workdir / p): p for p in state.files if (workdir / p).stat().st_size > 0}
        copies = sorted({p for p, (sha, _) in state.head.items() if sha in by_sha} | set(at_path))
        if copies:
            raise Problem("dvc.data_in_git", f"the data is still committed to git: {', '.join(copies[:10])}: remove it "
                          "from the git index (git rm --cached) and commit only the DVC files", paths=copies)

    def _no_lfs(self, workdir: Path, git: GitReader, state: State) -> None:
        rules = [(p, line) for p in state.head if PurePosixPath(p).name == ".gitattributes"
                 for line in git.read_blob(state.head[p][0]).decode(errors="replace").splitlines()
                 if "filter=lfs" in line.split("#")[0]]
        caught = sorted({f"{attr_file}: {line.strip()}" for attr_file, line in rules
                         for path in state.files if attribute_matches(attr_file, line, path)})
        if caught:
            raise Problem("dvc.lfs_left", f"git-lfs rules still cover the DVC-tracked data: {'; '.join(caught)}: "
                          "delete those .gitattributes lines", rules=caught)

    def _remote(self, workdir: Path, git: GitReader, state: State) -> None:
        config = read_dvc_config(workdir)
        remotes = config["remotes"]
        wanted = {o.remote for o in state.outs.values() if o.remote} or {self.args.remote or config["default"]}
        if wanted == {None}:
            wanted = set(remotes) if len(remotes) == 1 else set()
        if len(wanted) != 1 or not remotes.keys() >= wanted:
            raise Problem("dvc.no_remote", _no_remote_reason(self.args.remote, remotes, wanted), remotes=remotes)
        state.remote_name = wanted.pop()
        state.remote_dir = self._remote_dir(workdir, state.remote_name, remotes[state.remote_name])

    def _remote_dir(self, workdir: Path, name: str, url: str) -> Path:
        if "://" in url and not url.startswith("file://"):
            raise Problem("dvc.no_remote", f"DVC remote '{name}' is '{url}', not a local directory as the task asks: "
                          "point it to a folder in the project")
        path = Path(url.removeprefix("file://"))
        path = (path if path.is_absolute() else workdir / ".dvc" / path).resolve()
        if self.args.remote_path and path != (workdir / self.args.remote_path).resolve():
            raise Problem("dvc.no_remote", f"DVC remote '{name}' points to {_show(path, workdir)}, "
                          f"not to ./{self.args.remote_path} as the task asks (a url relative to .dvc/ needs ../)")
        if not is_inside(path, workdir):
            raise Problem("dvc.no_remote", f"DVC remote '{name}' points outside the project folder: use a folder "
                          "inside it")
        return path

    def _pushed(self, workdir: Path, git: GitReader, state: State) -> None:
        missing: list[str] = []
        for out in unique_outs(state):
            missing += [f"{out.path} ({key})" for key in missing_objects(state.remote_dir, out, workdir)]
        if missing:
            raise Problem("dvc.not_pushed", f"objects missing from DVC remote '{state.remote_name}' "
                          f"({_show(state.remote_dir, workdir)}): {', '.join(missing[:10])}: run dvc push after "
                          "DVC recorded the data", missing=missing)

    def _fresh(self, workdir: Path, git: GitReader, state: State) -> None:
        stale = [p for p in state.files if not matches_recorded_hash(workdir, p, state.outs[p], state.remote_dir)]
        if stale:
            raise Problem("dvc.stale", f"the data changed after DVC recorded it (re-run dvc add/commit): "
                          f"{', '.join(stale)}", paths=stale)

    def _tagged(self, workdir: Path, git: GitReader, state: State) -> None:
        if not self.args.tag:
            return
        tree = git.tree(f"refs/tags/{self.args.tag}^{{commit}}")
        if not tree:
            tags = git.tags()
            raise Problem("dvc.no_tag", f"there is no git tag '{self.args.tag}' (tags: {', '.join(tags) or 'none'}): "
                          f"tag the commit that holds the DVC files")
        sources = sorted({o.source for o in state.outs.values()})
        outdated = [s for s in sources if tree.get(s, ("",))[0] != state.head[s][0]]
        if outdated:
            raise Problem("dvc.no_tag", f"tag '{self.args.tag}' does not hold the current version of "
                          f"{', '.join(outdated)}: create the tag after committing the DVC files", outdated=outdated)

    def _pipeline(self, workdir: Path, git: GitReader, state: State) -> None:
        """Pipeline tasks: the stages are declared in dvc.yaml, DVC ran them (dvc.lock) and nothing changed since."""
        if not self.args.stages:
            return
        declared = _stages(workdir / "dvc.yaml")
        missing = [s for s in self.args.stages if not isinstance(declared.get(s), dict) or not declared[s].get("cmd")]
        if missing:
            found = f"declares {', '.join(declared)}" if declared else "does not exist" if not (
                workdir / "dvc.yaml").is_file() else "declares no stage"
            raise Problem("dvc.no_pipeline", f"dvc.yaml {found}; the task needs the stages {', '.join(missing)}, each "
                          "with its cmd, deps, params and outs", declared=sorted(declared))
        locked = _stages(workdir / "dvc.lock")
        unrun = [s for s in self.args.stages if not isinstance(locked.get(s), dict)]
        if unrun:
            raise Problem("dvc.pipeline_not_run", f"dvc.lock records no run of the stage(s) {', '.join(unrun)}: run "
                          "the pipeline with dvc repro (dvc.repo.Repo('.').reproduce()) so DVC records it",
                          locked=sorted(locked))
        for name in self.args.stages:
            change = stage_change(workdir, name, declared[name], locked[name])
            if change:
                raise Problem("dvc.pipeline_stale", f"stage '{name}': {change} since DVC last ran it: run dvc repro "
                              "again and commit the new dvc.lock", stage=name)
        state.pipeline = declared

    def _versions(self, workdir: Path, git: GitReader, state: State) -> None:
        """Earlier versions (named revisions, or HEAD's whole history) reached the remote and stayed out of git."""
        revisions = [(rev, f"'{rev}'", True) for rev in self.args.versions]
        if self.args.history:
            revisions += [(sha, f"commit {sha[:8]}", False) for sha in git.rev_list("HEAD", MAX_HISTORY)]
        missing: list[str] = []
        for rev, label, required in revisions:
            if not git.has_commit(rev):
                raise Problem("dvc.no_tag", f"there is no git revision {label} (tags: {', '.join(git.tags()) or 'none'})"
                              ": tag the commit that holds that version's DVC files")
            tree = git.tree(f"{rev}^{{commit}}")  # {} for a commit without files
            outs = [o for o in outs_at(workdir, git, tree) if relevant(o.path, self.args.paths)]
            in_git = sorted(p for p in tree if any(matches(p, pat) for pat in self.args.paths)
                            and not p.endswith((".dvc", ".gitignore", "dvc.lock")))
            if in_git:
                raise Problem("dvc.data_in_git", f"the data is committed to git at {label}: {', '.join(in_git[:5])}: "
                              "every version must be recorded by DVC, never by git", revision=rev)
            if not outs and required:
                raise Problem("dvc.version_not_tracked", f"{label} holds no DVC file for {', '.join(self.args.paths)}"
                              ": commit that version's .dvc file before tagging it", revision=rev)
            for out in outs:
                missing += [f"{out.path} at {label} ({key[:8]})" for key in
                            missing_objects(state.remote_dir, out, workdir)]
        if missing:
            raise Problem("dvc.version_not_pushed", f"earlier data versions are missing from DVC remote "
                          f"'{state.remote_name}' ({_show(state.remote_dir, workdir)}): {', '.join(sorted(set(missing))[:5])}"
                          ": push each version while it is in the workspace (dvc push), or dvc push --all-tags",
                          missing=sorted(set(missing)))

    def _cloud_status(self, ctx: CheckContext, state: State) -> None:
        if self._warm_status_clean(ctx, state):
            return
        targets = sorted({o.source for o in state.outs.values() if o.source.endswith(".dvc")})
        answer = ctx.run_probe(STATUS_PROBE.format(targets=json.dumps(targets), remote=json.dumps(state.remote_name),
                                                   pipeline=json.dumps(bool(self.args.stages))))
        if "dvc_error" in answer:
            raise Problem("dvc.status_error", f"DVC cannot compute the repository's status: {answer['dvc_error']}"[:400])
        if "status" not in answer:
            raise Problem("harness_error", f"the DVC status probe failed: {answer.get('error', answer)}")
        if answer["status"]:
            raise Problem("dvc.not_pushed", f"DVC reports the remote out of sync: {_short(answer['status'])}: run "
                          "dvc push", status=answer["status"])
        if answer.get("workspace"):
            raise Problem("dvc.pipeline_stale", f"DVC reports the pipeline out of date: {_short(answer['workspace'])}: "
                          "run dvc repro and commit dvc.lock", workspace=answer["workspace"])


    def _warm_status_clean(self, ctx: CheckContext, state: State) -> bool:
        """The warm probe saw every output in sync with the remote this checker found (and, for a pipeline, an
        unchanged workspace): then the targeted status is clean too. Any other answer goes to the fresh probe."""
        record = warm_record(ctx.events, WARM_EVENT)
        if not record or record.get("remote") != state.remote_name or record.get("status") != {}:
            return False
        return not self.args.stages or record.get("workspace") == {}


WARM_EVENT = "dvc_status_probe"
# what opening a repository and asking its cloud status import (0.25 s more on the first call, measured)
WARM_IMPORTS = ("dvc.repo", "dvc.repo.status", "dvc.output", "dvc.stage", "dvc.fs", "dvc.scm", "dvc.data_cloud",
                "dvc.cachemgr", "dvc.lock", "scmrepo.git", "dulwich.repo", "dulwich.client", "dulwich.object_store")
WARM_STATUS = r'''
def _abd_go():
    return {}


def _abd_work(go, params):
    """DVC's status of every output against the default remote (or the only one), and of the workspace."""
    import json
    from dvc.repo import Repo
    try:
        with Repo(".") as repo:
            remotes = list(repo.config.get("remote", {}))
            remote = repo.config.get("core", {}).get("remote") or (remotes[0] if len(remotes) == 1 else None)
            if remote is None:
                return None
            answer = {"remote": remote, "status": repo.status(cloud=True, remote=remote)}
            if params["pipeline"]:
                answer["workspace"] = repo.status()
    except Exception as exc:
        return {"dvc_error": "%s: %s" % (type(exc).__name__, exc)}
    return json.loads(json.dumps(answer, default=str))


_abw_start(__EVENT__, __PARAMS__, _abd_go, _abd_work)
'''


STATUS_PROBE = '''\
import json
import sys
true, false, null = True, False, None
try:
    from dvc.repo import Repo
    with Repo(".") as repo:
        status = repo.status(targets={targets} or None, cloud=True, remote={remote})
        answer = {{"status": status}}
        if {pipeline}:
            answer["workspace"] = repo.status()
except Exception as exc:
    answer = {{"dvc_error": f"{{type(exc).__name__}}: {{exc}}"}}
sys.stdout.write(json.dumps(answer, default=str) + "\\n")
'''


def _no_remote_reason(asked: str | None, remotes: dict[str, str], wanted: set) -> str:
    add = f"dvc remote add -d {asked or 'storage'} <directory>"
    if not remotes:
        return f"no DVC remote is configured (.dvc/config has no ['remote \"...\"'] section): add one with {add}"
    if asked and asked not in remotes:
        return f"no DVC remote named '{asked}' (configured: {', '.join(remotes)}): add it with {add}"
    if len(wanted) > 1:
        return f"the outputs use different remotes ({', '.join(sorted(map(str, wanted)))}): keep one default remote"
    if wanted:
        return (f"remote '{next(iter(wanted))}' is named as the default but not defined (configured: "
                f"{', '.join(remotes)}): define it or make a configured one the default (core.remote)")
    return f"several DVC remotes ({', '.join(remotes)}) and no default one: set core.remote (dvc remote default NAME)"


def _show(path: Path, workdir: Path) -> str:
    return f"./{path.relative_to(workdir)}" if is_inside(path, workdir) else str(path)


def _short(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit - 3] + "..."


# ---------------------------------------------------------------- pipelines


def _stages(path: Path) -> dict[str, Any]:
    if not path.is_file() or path.is_symlink():
        return {}
    try:
        doc = yaml.safe_load(path.read_text(errors="replace")) or {}
    except yaml.YAMLError:
        return {}
    stages = doc.get("stages") if isinstance(doc, dict) else None
    return stages if isinstance(stages, dict) else {}


def stage_change(workdir: Path, name: str, declared: dict[str, Any], locked: dict[str, Any]) -> str | None:
    """What differs between a stage as dvc.lock recorded it and the workspace now, or None."""
    if str(locked.get("cmd", "")).strip() != str(declared.get("cmd", "")).strip():
        return f"its cmd in dvc.yaml ({declared.get('cmd')!r}) differs from the one dvc.lock recorded"
    for kind in ("deps", "outs"):
        for entry in locked.get(kind) or []:
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                continue
            path, md5 = workdir / entry["path"], str(entry.get("md5", ""))
            if not path.exists():
                return f"{'dependency' if kind == 'deps' else 'output'} {entry['path']} is missing"
            if path.is_file() and md5 and not md5.endswith(".dir") and file_md5(path) != md5:
                return f"{'dependency' if kind == 'deps' else 'output'} {entry['path']} changed"
    for file, values in (locked.get("params") or {}).items():
        current = _params_file(workdir / file)
        for key, value in (values or {}).items():
            if _lookup(current, key) != value:
                return f"parameter {key} in {file} changed ({value!r} when it ran, now {_lookup(current, key)!r})"
    return None


def _params_file(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(errors="replace")) if path.is_file() else {}
    except yaml.YAMLError:
        return {}


def _lookup(doc: Any, dotted: str) -> Any:
    for part in str(dotted).split("."):
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


# ---------------------------------------------------------------- earlier revisions


def matches(path: str, pattern: str) -> bool:
    pattern = pattern.rstrip("/")
    return fnmatch.fnmatchcase(path, pattern) or path.startswith(pattern + "/")


def relevant(out_path: str, patterns: list[str]) -> bool:
    """Whether a DVC output holds data named by the task's path patterns."""
    return any(matches(out_path, p) or p.rstrip("/").startswith(out_path.rstrip("/") + "/") for p in patterns)


def outs_at(workdir: Path, git: GitReader, tree: dict[str, tuple[str, int]]) -> list[Out]:
    """The DVC outputs recorded by the tracking files of one commit's tree."""
    outs: list[Out] = []
    files = [p for p in tree if p.endswith(".dvc") or PurePosixPath(p).name == "dvc.lock"][:MAX_TRACKING_FILES]
    for path in files:
        try:
            doc = yaml.safe_load(git.read_blob(tree[path][0]).decode(errors="replace")) or {}
        except yaml.YAMLError:
            continue
        outs += outs_of(workdir, workdir / path, doc)
    return outs


# ---------------------------------------------------------------- the work dir


def is_inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
        return True
    except ValueError:
        return False


def expand_paths(workdir: Path, patterns: list[str]) -> list[str]:
    """Data files named by the patterns (directories expand to the files under them), relative posix paths."""
    found: set[str] = set()
    for pattern in patterns:
        for match in workdir.glob(pattern):
            for path in ([match] if match.is_file() else sorted(match.rglob("*"))):
                rel = path.relative_to(workdir)
                if path.is_file() and rel.parts[0] not in SKIP_DIRS and is_inside(path, workdir):
                    found.add(rel.as_posix())
    return sorted(found)


def tracking_files(workdir: Path) -> list[Path]:
    """`.dvc` files and `dvc.lock` files of the workspace (no symlinks followed)."""
    found: list[Path] = []
    for root, dirs, files in os.walk(workdir):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not (Path(root) / d).is_symlink()]
        found += [Path(root) / f for f in files if f.endswith(".dvc") or f == "dvc.lock"]
        if len(found) > MAX_TRACKING_FILES:
            break
    return sorted(p for p in found if p.is_file() and not p.is_symlink())


def load_outs(workdir: Path) -> list[Out]:
    outs: list[Out] = []
    for path in tracking_files(workdir):
        try:
            doc = yaml.safe_load(path.read_text(errors="replace")) or {}
        except yaml.YAMLError as exc:
            log.info("unreadable DVC file %s: %s", path, exc)
            continue
        outs += outs_of(workdir, path, doc)
    return outs


def outs_of(workdir: Path, path: Path, doc: Any) -> list[Out]:
    """The outputs one tracking file (a .dvc file or dvc.lock, at `path`) records."""
    if not isinstance(doc, dict):
        return []
    entries = doc.get("outs", []) if path.name != "dvc.lock" else [
        o for stage in (doc.get("stages") or {}).values() if isinstance(stage, dict) for o in stage.get("outs", [])]
    return [o for o in (_out(workdir, path, e) for e in entries if isinstance(e, dict)) if o]


def _out(workdir: Path, tracking: Path, entry: dict[str, Any]) -> Out | None:
    if not isinstance(entry.get("path"), str):
        return None
    target = Path(os.path.normpath(tracking.parent / entry["path"]))
    if not is_inside(target, workdir):
        return None
    md5 = entry.get("md5")
    return Out(path=target.relative_to(workdir).as_posix(), source=tracking.relative_to(workdir).as_posix(),
               md5=md5 if isinstance(md5, str) else None, legacy=entry.get("hash") != "md5",
               cache=entry.get("cache", True) is not False, push=entry.get("push", True) is not False,
               remote=entry.get("remote") if isinstance(entry.get("remote"), str) else None)


def unique_outs(state: State) -> list[Out]:
    return sorted(set(state.outs.values()), key=lambda o: (o.source, o.path))


def read_dvc_config(workdir: Path) -> dict[str, Any]:
    """Remotes (name -> url) and the default remote, from .dvc/config overlaid by .dvc/config.local."""
    from configobj import ConfigObj, ConfigObjError

    remotes: dict[str, str] = {}
    default = None
    for name in ("config", "config.local"):
        path = workdir / ".dvc" / name
        if not path.is_file() or path.is_symlink():
            continue
        try:
            conf = ConfigObj(str(path), interpolation=False, list_values=False, file_error=True)
        except (ConfigObjError, OSError) as exc:
            log.info("unreadable DVC config %s: %s", path, exc)
            continue
        for section, values in conf.items():
            parts = section.split('"')
            if section.startswith("remote ") and len(parts) >= 2 and isinstance(values, dict) and "url" in values:
                remotes[parts[1]] = str(values["url"])
        default = (conf.get("core") or {}).get("remote", default)
    return {"remotes": remotes, "default": default}


# ---------------------------------------------------------------- hashes and the remote


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def blob_sha(path: Path) -> str:
    """The git blob id the file's content would have (sha1 object format)."""
    if not path.is_file():
        return ""
    digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def object_path(storage: Path, md5: str, legacy: bool) -> Path:
    return (storage if legacy else storage / "files" / "md5") / md5[:2] / md5[2:]


def stored_object(storage: Path | None, md5: str, legacy: bool, workdir: Path) -> Path | None:
    """The object file, if present with the content its name claims."""
    if storage is None:
        return None
    path = object_path(storage, md5, legacy)
    if not path.is_file() or not is_inside(path, workdir):
        return None
    return path if file_md5(path) == md5.removesuffix(".dir") else None


def read_manifest(path: Path | None) -> list[dict[str, Any]] | None:
    if path is None:
        return None
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else None


def missing_objects(remote: Path, out: Out, workdir: Path) -> list[str]:
    """The object keys of `out` that are not (correctly) in the remote."""
    if not out.push:
        return [f"{out.md5}: push: false"]
    if stored_object(remote, out.md5, out.legacy, workdir) is None:
        return [out.md5]
    if not out.is_dir:
        return []
    manifest = read_manifest(object_path(remote, out.md5, out.legacy)) or []
    return [str(e.get("relpath")) for e in manifest
            if stored_object(remote, str(e.get("md5", "")), out.legacy, workdir) is None]


def matches_recorded_hash(workdir: Path, path: str, out: Out, remote: Path | None) -> bool:
    actual = file_md5(workdir / path)
    if not out.is_dir:
        return actual == out.md5
    cache = workdir / ".dvc" / "cache"
    manifest = (read_manifest(stored_object(remote, out.md5, out.legacy, workdir))
                or read_manifest(stored_object(cache, out.md5, out.legacy, workdir)))
    if manifest is None:
        return False
    relpath = PurePosixPath(path).relative_to(out.path).as_posix()
    return any(e.get("relpath") == relpath and e.get("md5") == actual for e in manifest)


# ---------------------------------------------------------------- git, read-only


def attribute_matches(attr_file: str, line: str, path: str) -> bool:
    """Whether a .gitattributes line's pattern applies to `path` (the common cases of gitattributes(5))."""
    fields = line.split("#")[0].split()
    if not fields:
        return False
    base = PurePosixPath(attr_file).parent.as_posix()
    if base != "." and not path.startswith(base + "/"):
        return False
    rel = path if base == "." else path[len(base) + 1:]
    pattern = fields[0]
    if "/" not in pattern:  # a bare name pattern matches the file name at any depth
        return fnmatch.fnmatchcase(PurePosixPath(rel).name, pattern)
    pattern = pattern.lstrip("/")
    return fnmatch.fnmatchcase(rel, pattern) or fnmatch.fnmatchcase(rel, pattern.replace("**/", ""))


class GitReader:
    """Read-only git plumbing on the work dir's repository; nothing the repository configures gets run."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.git_dir = workdir / ".git"
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_CONFIG_NOSYSTEM": "1",
                    "GIT_CONFIG_GLOBAL": os.devnull, "GIT_NO_REPLACE_OBJECTS": "1", "GIT_OPTIONAL_LOCKS": "0",
                    "GIT_TERMINAL_PROMPT": "0", "HOME": str(workdir / ".home"), "LC_ALL": "C"}

    def is_repo(self) -> bool:
        return self.git_dir.is_dir() and not self.git_dir.is_symlink() and self._run("rev-parse", "--git-dir") is not None

    def tree(self, rev: str) -> dict[str, tuple[str, int]]:
        """path -> (blob sha, size) for every blob of the commit `rev`; {} when there is no such commit."""
        out = self._run("ls-tree", "-r", "-l", "-z", "--full-tree", rev)
        entries: dict[str, tuple[str, int]] = {}
        for record in (out or b"").split(b"\0"):
            meta, _, path = record.partition(b"\t")
            parts = meta.split()
            if len(parts) == 4 and parts[1] == b"blob":
                size = int(parts[3]) if parts[3].isdigit() else 0
                entries[path.decode(errors="surrogateescape")] = (parts[2].decode(), size)
        return entries

    def read_blob(self, sha: str) -> bytes:
        return self._run("cat-file", "blob", sha) or b""

    def has_commit(self, rev: str) -> bool:
        return self._run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}") is not None

    def rev_list(self, rev: str, limit: int) -> list[str]:
        out = self._run("rev-list", f"--max-count={limit}", rev) or b""
        return out.decode(errors="replace").split()

    def tags(self) -> list[str]:
        out = self._run("for-each-ref", "--format=%(refname:short)", "refs/tags") or b""
        return out.decode(errors="replace").split()[:10]

    def is_lfs_pointer(self, sha: str, size: int) -> bool:
        return size < 1024 and self.read_blob(sha).startswith(LFS_POINTER_PREFIX)

    def _run(self, *args: str) -> bytes | None:
        argv = ["git", "-c", "safe.directory=*", "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null",
                f"--git-dir={self.git_dir}", f"--work-tree={self.workdir}", *args]
        try:
            done = subprocess.run(argv, check=False, cwd=self.workdir, env=self.env, capture_output=True,
                                  timeout=GIT_TIMEOUT_S, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("git %s failed: %s", args[0], exc)
            return None
        return done.stdout if done.returncode == 0 else None
