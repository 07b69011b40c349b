"""Which Python API of a library a script uses, read from its AST (no execution of the script).

Names are resolved scope by scope, as Python does: a function's own assignments, parameters and imports shadow the
module's (`dvc = DvcRepo(".")` inside one function does not hide `import dvc.api` in another). A variable is known
to hold a library object when it is bound to

- a constructor call or a constructor-like class method: `repo = Repo(".")`, `repo = Repo.init(path)`;
- the value returned by any library call or property whose return annotation names a library class:
  `run = wandb.init()` -> `wandb.Run`, so `run.log(...)` is `wandb.Run.log`; `origin = repo.remote("origin")` ->
  `git.Remote`; `with mlflow.start_run() as run` -> `mlflow.ActiveRun` (read from the installed library);
- the value returned by one of the script's own functions (its return annotation, else what its `return`
  statements give): `repo, dvc = open_repositories()` with `-> tuple[Repo, DvcRepo]`;
- an annotation (`dvc: DvcRepo`), or a `with ... as name`.

Attribute chains rooted at such a name (or at an imported module) are the symbols: `dvc.repo.Repo.config.edit`.
Parameters without an annotation are not typed from their call sites.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from benchmark.pyparse import parse_python

from ._introspect import dotted_name, dynamic_attribute, library_object, returned_class

SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
Kind = str | tuple | None  # str: the qualified class of an instance; tuple: the kinds of a tuple's items


@dataclass(frozen=True)
class Binding:
    qualified: str  # a module, class or function of the library, or (instance=True) the class of a value
    instance: bool = False


@dataclass
class LocalFunction:
    node: ast.FunctionDef | ast.AsyncFunctionDef
    scope: Scope  # where it is defined


@dataclass
class Scope:
    node: ast.AST
    parent: Scope | None  # the scope its free names are looked up in (class bodies are skipped, as in Python)
    bindings: dict[str, Binding | LocalFunction | None] = field(default_factory=dict)
    globals: set[str] = field(default_factory=set)
    state: str = "new"  # new | binding | bound

    def lookup(self, name: str) -> Binding | LocalFunction | None:
        scope = self
        while scope is not None:
            if name in scope.bindings and name not in scope.globals:
                return scope.bindings[name]
            scope = scope.parent
        return None


def _under(name: str, roots: tuple[str, ...]) -> bool:
    return any(name == r or name.startswith(r + ".") for r in roots)


def _own_nodes(node: ast.AST):
    """The nodes of `node`'s own scope, in source order: nested functions and classes are yielded, not entered."""
    for child in ast.iter_child_nodes(node):
        yield child
        if not isinstance(child, SCOPES):
            yield from _own_nodes(child)


class Analyser:
    def __init__(self, tree: ast.Module, roots: list[str]):
        self.roots = tuple(roots)
        self.found: set[str] = set()
        self.lines: dict[str, set[int]] = {}  # qualified name -> the lines that use it
        self.module = Scope(tree, None)
        self.scopes: list[Scope] = [self.module]
        self._scope_of_def: dict[int, Scope] = {}
        self._make_scopes(self.module)

    def _make_scopes(self, scope: Scope) -> None:
        for node in _own_nodes(scope.node):
            if isinstance(node, SCOPES):
                lookup_parent = scope if not isinstance(scope.node, ast.ClassDef) else scope.parent
                child = Scope(node, lookup_parent)
                self.scopes.append(child)
                self._scope_of_def[id(node)] = child
                self._make_scopes(child)

    # -------------------------------------------------------- pass 1: bindings
    def bind_scope(self, scope: Scope) -> None:
        if scope.state != "new":
            return  # bound already, or being bound (a function that calls itself)
        scope.state = "binding"
        node = scope.node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            self._bind_arguments(scope, node.args)
        for child in _own_nodes(node):
            self._bind_node(scope, child)
        scope.state = "bound"

    def _bind_arguments(self, scope: Scope, args: ast.arguments) -> None:
        for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if arg is None:
                continue
            kind = self.annotation_kind(arg.annotation, scope.parent) if arg.annotation is not None else None
            self._set(scope, arg.arg, Binding(kind, True) if isinstance(kind, str) else None)

    def _bind_node(self, scope: Scope, node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                self._set(scope, bound, Binding(alias.name if alias.asname else bound))
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in (a for a in node.names if a.name != "*"):
                qualified = f"{node.module}.{alias.name}"
                self._set(scope, alias.asname or alias.name, Binding(qualified))
                if _under(qualified, self.roots):
                    self.found.add(qualified)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            scope.globals.update(node.names) if isinstance(node, ast.Global) else None
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self._set(scope, node.name, LocalFunction(node, scope))
        elif isinstance(node, ast.ClassDef):
            self._set(scope, node.name, None)
        elif isinstance(node, ast.Assign):
            kind = self.kind_of(node.value, scope)
            for target in node.targets:
                self._bind_target(scope, target, kind)
        elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)):
            kind = self.annotation_kind(node.annotation, scope) if isinstance(node, ast.AnnAssign) else None
            if not isinstance(kind, str) and node.value is not None:
                kind = self.kind_of(node.value, scope)
            self._bind_target(scope, node.target, kind)
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            self._bind_target(scope, node.optional_vars, self.kind_of(node.context_expr, scope))
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            self._bind_target(scope, node.target, None)

    def _bind_target(self, scope: Scope, target: ast.AST, kind: Kind) -> None:
        if isinstance(target, ast.Name):
            self._set(scope, target.id, Binding(kind, True) if isinstance(kind, str) else None)
        elif isinstance(target, (ast.Tuple, ast.List)):
            kinds = kind if isinstance(kind, tuple) and len(kind) == len(target.elts) else (None,) * len(target.elts)
            for element, element_kind in zip(target.elts, kinds):
                self._bind_target(scope, element, element_kind)
        elif isinstance(target, ast.Starred):
            self._bind_target(scope, target.value, None)

    def _set(self, scope: Scope, name: str, value: Binding | LocalFunction | None) -> None:
        """Bind `name` in its scope; within one scope a known value wins over an unknown one (flow-insensitive)."""
        home = self.module if name in scope.globals else scope
        if value is not None or name not in home.bindings:
            home.bindings[name] = value

    # -------------------------------------------------------- kinds of values
    def kind_of(self, value: ast.AST, scope: Scope) -> Kind:
        """The library class of the object `value` evaluates to (a tuple of kinds for a tuple), when known."""
        if isinstance(value, ast.IfExp):
            return self.kind_of(value.body, scope) or self.kind_of(value.orelse, scope)
        if isinstance(value, ast.Await):
            return self.kind_of(value.value, scope)
        if isinstance(value, (ast.Tuple, ast.List)):
            return tuple(self.kind_of(e, scope) for e in value.elts)
        if isinstance(value, ast.Name):
            bound = scope.lookup(value.id)
            return bound.qualified if isinstance(bound, Binding) and bound.instance else None
        if isinstance(value, ast.Call):
            return self.call_kind(value, scope)
        if isinstance(value, ast.Attribute):
            qualified, _ = self.qualify(value, scope)
            return returned_class(qualified, self.roots, called=False) if qualified and self._ours(qualified) else None
        return None

    def call_kind(self, call: ast.Call, scope: Scope) -> Kind:
        if isinstance(call.func, ast.Name):
            bound = scope.lookup(call.func.id)
            if isinstance(bound, LocalFunction):
                return self.local_return_kind(bound)
        qualified, instance_of = self.qualify(call.func, scope)
        if not qualified or not self._ours(qualified):
            return None
        annotated = returned_class(qualified, self.roots, called=True)
        if annotated is not None or library_object(qualified) is not None or instance_of:
            return annotated
        return _constructor_like(qualified)  # the library is not importable here: read the name's shape

    def local_return_kind(self, function: LocalFunction) -> Kind:
        """What one of the script's own functions returns: its annotation, else its first typed `return`."""
        node = function.node
        if node.returns is not None:
            kind = self.annotation_kind(node.returns, function.scope)
            if kind:
                return kind
        own = self._scope_of_def[id(node)]
        if own.state == "binding":
            return None  # recursion
        self.bind_scope(own)
        for child in _own_nodes(node):
            if isinstance(child, ast.Return) and child.value is not None:
                kind = self.kind_of(child.value, own)
                if kind:
                    return kind
        return None

    def annotation_kind(self, node: ast.AST | None, scope: Scope) -> Kind:
        """`Repo`, `"Repo"`, `Repo | None`, `Optional[Repo]`, `tuple[Repo, DvcRepo]` -> the kinds they name."""
        if node is None:
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                return self.annotation_kind(ast.parse(node.value.strip(), mode="eval").body, scope)
            except SyntaxError:
                return None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self.annotation_kind(node.left, scope) or self.annotation_kind(node.right, scope)
        if isinstance(node, ast.Subscript):
            outer = dotted_name(node.value) or ""
            if outer.split(".")[-1] in ("tuple", "Tuple"):
                items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
                return tuple(self.annotation_kind(item, scope) for item in items)
            return self.annotation_kind(node.slice, scope) if outer.split(".")[-1] == "Optional" else None
        qualified, _ = self.qualify(node, scope)
        return qualified if qualified and _under(qualified, self.roots) else None

    @staticmethod
    def _dynamic(qualified: str, instance_of: str | None) -> bool:
        """`config.lr` on a `wandb.Config`: a key the object answers at run time, not an API name."""
        if instance_of is None or qualified == instance_of:
            return False
        return dynamic_attribute(instance_of, qualified[len(instance_of) + 1:].split(".")[0])

    def _ours(self, qualified: str) -> bool:
        return _under(qualified, self.roots)

    # -------------------------------------------------------- names
    def qualify(self, node: ast.AST, scope: Scope) -> tuple[str | None, str | None]:
        """`a.b.c` with `a` an imported name, a library object or a call returning one -> (its qualified dotted
        name, the class of the object the chain starts at, None when it starts at a module or class)."""
        attrs = []
        while isinstance(node, ast.Attribute):
            attrs.append(node.attr)
            node = node.value
        base, instance = None, False
        if isinstance(node, ast.Name):
            bound = scope.lookup(node.id)
            if isinstance(bound, Binding):
                base, instance = bound.qualified, bound.instance
        elif isinstance(node, ast.Call):
            kind = self.call_kind(node, scope)
            base, instance = (kind, True) if isinstance(kind, str) else (None, False)
        if not base:
            return None, None
        return ".".join([base, *reversed(attrs)]), base if instance else None

    # -------------------------------------------------------- pass 2: uses
    def collect(self, maximal: set[int]) -> set[str]:
        for scope in self.scopes:
            self.bind_scope(scope)
        for scope in self.scopes:
            for node in _own_nodes(scope.node):
                if isinstance(node, ast.Attribute) and id(node) in maximal:
                    qualified, instance_of = self.qualify(node, scope)
                    if qualified and self._ours(qualified) and not self._dynamic(qualified, instance_of):
                        self.found.add(qualified)
                        self.lines.setdefault(qualified, set()).add(node.lineno)
        return self.found


def _constructor_like(qualified: str) -> str | None:
    """`pkg.Class(...)` or `pkg.Class.factory(...)` -> `pkg.Class`, by the capitalised class name."""
    parts = qualified.split(".")
    if parts[-1][:1].isupper():
        return qualified
    if len(parts) > 1 and parts[-2][:1].isupper():
        return ".".join(parts[:-1])
    return None


def _analyse(code: str, roots: list[str]) -> Analyser:
    tree = parse_python(code)
    inner = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    maximal = {id(node) for node in ast.walk(tree) if isinstance(node, ast.Attribute) and id(node) not in inner}
    analyser = Analyser(tree, roots)
    analyser.collect(maximal)
    return analyser


def python_symbols(code: str, roots: list[str]) -> set[str]:
    """The qualified library names `code` uses (imports from the library and attribute chains on its objects)."""
    return _analyse(code, roots).found


def python_uses(code: str, roots: list[str]) -> dict[str, list[int]]:
    """Qualified library name -> the line numbers (1-based) where `code` uses it, for the names used in calls and
    attribute chains (imports are left out: they say what is available, not what is done)."""
    return {name: sorted(lines) for name, lines in sorted(_analyse(code, roots).lines.items())}
