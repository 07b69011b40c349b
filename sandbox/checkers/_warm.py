"""Warm probes: judging work that needs a sandboxed interpreter with heavy imports (loading a registered model,
asking DVC for the repository's status), done without paying for a second interpreter after the run.

At interpreter start-up, before any of the script's code runs, the sitecustomize of the script's first process
forks a child that imports what the checker's work will need while the script trains, then waits on a pipe.
When the script ends without an uncaught exception, its last exit handler sends the child a JSON message (the
directory the script ended in, and whatever the checker's `go` function reads from the script's process); the
child does the checker's work and records the outcome as one probe event, and the script's process waits for it,
never past ADAPTBENCH_PROBE_UNTIL (set by the harness well inside the time limit). The child was forked before
the script ran: it holds none of the script's classes, registrations or patches, so it meets what a fresh
interpreter meets. Its output goes to /dev/null, never into the script's.

A checker takes a warm probe's record only where it can confirm it from what the harness read itself, and sends
everything else (no record, a failure) to the fresh probe (`ctx.run_probe`), so every failure reason still comes
from a fresh interpreter. Like every probe event the record is authenticated; like them it can be forged only by
code that digs the emitter out of the process's memory (sandbox/probes.py).

Measured (issue 15): the fresh registration probe took 10-13 s for a scikit-learn model here (importing MLflow,
scikit-learn and skops again); the warm one 0.2-0.3 s after the script's end.
"""

from __future__ import annotations

import json
from typing import Any

PROBE_UNTIL_VAR = "ADAPTBENCH_PROBE_UNTIL"

# The machinery; a checker's source defines `go()` (in the script's process at exit: a dict to send, or None to
# send nothing) and `work(go, params)` (in the child: the event's fields, or None for no event), then starts it.
MACHINERY = r'''
def _abw_start(event, params, go, work, trigger=None):
    """`trigger`: a module name; the child imports only once the script has imported it (a script that never
    imports MLflow registers no model: warming up for it would only take CPU from the script)."""
    import atexit, json, os, sys
    if not getattr(_adaptbench_event, "keyed", False):
        return  # not the script's own first interpreter (a subprocess it started, or a probe run)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(write_end)
        _abw_child(read_end, event, json.loads(params), work, trigger is not None)
    os.close(read_end)
    parent, crashed, hook = os.getpid(), [], sys.excepthook

    def warm_up(module):
        if os.getpid() == parent:
            os.write(write_end, b"warm\n")

    def excepthook(*exc_info):
        crashed.append(exc_info[0])
        hook(*exc_info)

    def at_exit():
        if os.getpid() != parent:
            return  # a child the script forked is exiting
        message = None if crashed else _abw_message(go)
        try:
            if message:
                os.write(write_end, message)
        finally:
            os.close(write_end)
        if message:
            _abw_wait(child, float(os.environ.get(__UNTIL_VAR__) or 0))

    sys.excepthook = excepthook
    if trigger is not None:
        _adaptbench_on_import(trigger, warm_up)
    atexit.register(at_exit)  # registered before the script's own handlers, so it runs after all of them


def _abw_message(go):
    import json, os
    try:
        extra = go()
    except Exception:
        return None
    if extra is None:
        return None
    return (json.dumps({"cwd": os.getcwd(), **extra}) + "\n").encode()


def _abw_wait(child, until):
    import os, signal, time
    while time.time() < until:
        try:
            done, _ = os.waitpid(child, os.WNOHANG)
        except ChildProcessError:
            return  # the script reaped it itself
        if done:
            return
        time.sleep(0.02)
    try:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    except OSError:
        pass


def _abw_lines(fd):
    """The messages on the pipe, one line each; ends when the script's end of it closes."""
    import os
    data = b""
    while True:
        while b"\n" in data:
            line, data = data.split(b"\n", 1)
            yield line
        chunk = os.read(fd, 65536)
        if not chunk:
            return
        data += chunk


def _abw_child(read_end, event, params, work, triggered):
    import json, os, sys
    try:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _AbImportHook)]
        if params.get("nice"):
            os.nice(params["nice"])  # yield the CPU to the script wherever both want it
        messages = _abw_lines(read_end)
        if triggered and next(messages, None) != b"warm":
            return  # the script ended without importing the trigger: nothing to do
        for module in params["imports"]:
            try:
                __import__(module)
            except BaseException:
                pass
        message = next(messages, None)
        while message == b"warm":  # sent again by a second import hook call
            message = next(messages, None)
        if message:
            go = json.loads(message)
            os.chdir(go["cwd"])
            report = work(go, params)
            if report is not None:
                _adaptbench_event(event, **report)
    except BaseException as exc:
        try:
            _adaptbench_event("probe_error", probe=event, error=repr(exc)[:500])
        except BaseException:
            pass
    finally:
        os._exit(0)
'''


def warm_source(checker_source: str, event: str, imports: list[str], params: dict[str, Any]) -> str:
    """The sitecustomize part of one warm probe: the machinery, the checker's `go`/`work` definitions (which
    must end by calling `_abw_start(__EVENT__, __PARAMS__, go, work[, trigger])`), and its parameters as a JSON
    literal."""
    payload = repr(json.dumps({"imports": imports, **params}))
    return (MACHINERY.replace("__UNTIL_VAR__", repr(PROBE_UNTIL_VAR)) + checker_source
            .replace("__EVENT__", repr(event)).replace("__PARAMS__", payload))


def warm_record(events: list[dict[str, Any]], event: str) -> dict[str, Any] | None:
    """The last record of a warm probe, if it left one."""
    return next((e for e in reversed(events) if e.get("kind") == event), None)
