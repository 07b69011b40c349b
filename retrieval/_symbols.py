"""Which API symbols of a library a script uses, read from its AST (no execution).

Found: imports from the library (`from dvc.repo import Repo` -> `dvc.repo.Repo`); attribute chains rooted at an
imported name or at a variable known to hold one of its objects (`repo = Repo(".")`, `dvc: DvcRepo`,
`run = wandb.init()`, `with Repo(...) as r`; scope by scope, see `_pyapi`) -> `dvc.repo.Repo.add`,
`dvc.repo.Repo.config.edit`, `wandb.Run.log`; and command lines of
the library's program run through `subprocess` (`subprocess.run(["dvc", "add", path])`, also through a small
wrapper such as `def dvc(*args): subprocess.run(["dvc", *args])` called as `dvc("remote", "add", ...)`) ->
`dvc add`, `dvc remote add`.

A document *mentions* a symbol when it contains its last two dotted parts (`Repo.add`, `config.edit`; case-insensitive,
whole words), or for a command its words (`dvc remote add`).
"""

from __future__ import annotations

import ast
import re
import shlex
from dataclasses import dataclass

from benchmark.pyparse import parse_python

from ._pyapi import python_symbols

SUBPROCESS_CALLS = {"run", "call", "check_call", "check_output", "Popen"}


@dataclass(frozen=True, order=True)
class Symbol:
    name: str  # "dvc.repo.Repo.add" or "dvc remote add"
    kind: str = "python"  # python | cli

    @property
    def tail(self) -> str:
        return " ".join(self.name.split()) if self.kind == "cli" else ".".join(self.name.split(".")[-2:])

    def pattern(self) -> re.Pattern:
        if self.kind == "cli":
            words = r"\s+".join(re.escape(w) for w in self.name.split())
            return re.compile(rf"(?<![\w-]){words}(?![\w-])", re.IGNORECASE)
        return re.compile(rf"(?<!\w){re.escape(self.tail)}(?!\w)", re.IGNORECASE)

    def mentioned_in(self, text: str) -> bool:
        return bool(self.pattern().search(text))

    def entry_of(self, text: str) -> bool:
        """The text is the symbol's own entry: its first line is a heading naming it right before a signature, a
        space or the end (`### dvc.repo.Repo.push(...)`, `# dvc push`), not a member of it (`Repo.push_all`)."""
        first = text.lstrip().split("\n", 1)[0]
        if not first.startswith("#"):
            return False
        tail = re.escape(self.tail) if self.kind == "python" else r"\s+".join(map(re.escape, self.name.split()))
        return bool(re.search(rf"(?<![\w-]){tail}(?:\(|\s|$)", first, re.IGNORECASE))

    def defined_in(self, text: str) -> bool:
        """The text documents it: a heading (`# ...`) or a `usage:` line names it."""
        pattern = self.pattern()
        return any(pattern.search(line) for line in text.splitlines()
                   if line.lstrip().startswith(("#", "usage:")))


# ---------------------------------------------------------------- command lines


def cli_symbols(code: str, program: str, groups: list[str]) -> set[str]:
    tree = parse_python(code)
    wrappers = _cli_wrappers(tree, program)
    found = set()
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        argv = _argv_of(call, program, wrappers)
        command = _command(program, argv, groups) if argv else None
        if command:
            found.add(command)
    return found


def _is_subprocess(call: ast.Call) -> bool:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
    return (name in SUBPROCESS_CALLS and owner in ("subprocess", "")) or (owner == "os" and name == "system")


def _literal_argv(node: ast.AST) -> list[str | None] | None:
    """["dvc", "add", x] -> ["dvc", "add", None]; "dvc add x" -> ["dvc", "add", "x"]; *args -> "*"."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            return shlex.split(node.value)
        except ValueError:
            return None
    if isinstance(node, (ast.List, ast.Tuple)):
        out: list[str | None] = []
        for item in node.elts:
            if isinstance(item, ast.Starred):
                out.append("*")
            else:
                out.append(item.value if isinstance(item, ast.Constant) and isinstance(item.value, str) else None)
        return out
    return None


def _cli_wrappers(tree: ast.AST, program: str) -> set[str]:
    """Functions `def f(*args)` whose body runs `[program, *args]`."""
    wrappers = set()
    for fn in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
        if fn.args.vararg is None:
            continue
        for call in (n for n in ast.walk(fn) if isinstance(n, ast.Call) and _is_subprocess(n) and n.args):
            argv = _literal_argv(call.args[0])
            if argv and argv[0] == program and "*" in argv:
                wrappers.add(fn.name)
    return wrappers


def _argv_of(call: ast.Call, program: str, wrappers: set[str]) -> list[str] | None:
    if _is_subprocess(call) and call.args:
        argv = _literal_argv(call.args[0])
        if argv and argv[0] == program and len(argv) > 1 and isinstance(argv[1], str) and argv[1] != "*":
            return [a for a in argv[1:] if isinstance(a, str)]
    if isinstance(call.func, ast.Name) and call.func.id in wrappers and call.args:
        words = []
        for arg in call.args:
            if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                break
            words.append(arg.value)
        return words or None
    return None


def _command(program: str, argv: list[str], groups: list[str]) -> str | None:
    argv = [a for a in argv if not a.startswith("-")]  # global flags (`dvc -v pull`)
    if not argv:
        return None
    words = [argv[0]]
    if argv[0] in groups and len(argv) > 1 and not argv[1].startswith("-"):
        words.append(argv[1])
    return " ".join([program, *words])


# ---------------------------------------------------------------- both


def used_symbols(code: str, roots: list[str], program: str | None = None,
                 groups: list[str] | None = None) -> list[Symbol]:
    """The library symbols `code` uses, sorted: Python API names, then command lines."""
    symbols = {Symbol(name) for name in python_symbols(code, roots)}
    if program:
        symbols |= {Symbol(name, "cli") for name in cli_symbols(code, program, groups or [])}
    return sorted(symbols, key=lambda s: (s.kind != "python", s.name))


def covered(symbols: list[Symbol], docs) -> list[Symbol]:
    """The symbols that at least one document's text (or title) mentions."""
    texts = [f"{d.get('title', '')}\n{d.get('text', '')}" for d in docs]
    return [s for s in symbols if any(s.mentioned_in(t) for t in texts)]
