"""`ast.parse` that is safe to call from several threads.

CPython 3.11's AST converter keeps its recursion counter in per-interpreter state; when a parse in one thread is
interleaved with a parse in another (a garbage collection in the middle of one can switch threads), it fails with
"SystemError: AST constructor recursion depth mismatch" (seen here on 3.11.7 with sandbox workers extracting code in
parallel; python/cpython#106905). Every parse in the harness goes through one lock."""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse_python(code: str) -> ast.Module:
    with _LOCK:
        return ast.parse(code)
