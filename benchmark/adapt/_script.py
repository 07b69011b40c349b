"""What a user's script is made of: its code, the modules it imports (its own files beside it included), the
training framework those imports point to, and the MLOps components it already uses."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from ..types import Component, Framework
from ._errors import ScriptError

# the first framework whose modules a script imports wins: Lightning and Keras scripts import torch too
FRAMEWORK_MODULES: tuple[tuple[Framework, frozenset[str]], ...] = (
    (Framework.lightning, frozenset({"lightning", "pytorch_lightning"})),
    (Framework.keras, frozenset({"keras", "tensorflow", "tf_keras"})),
    (Framework.pytorch, frozenset({"torch"})),
    (Framework.sklearn, frozenset({"sklearn"})),
)
COMPONENT_MODULES: dict[Component, frozenset[str]] = {
    Component.mlflow: frozenset({"mlflow"}),
    Component.wandb: frozenset({"wandb"}),
    Component.optuna: frozenset({"optuna"}),
    Component.nncf: frozenset({"nncf"}),
    Component.dvc: frozenset({"dvc"}),
    Component.gitpython: frozenset({"git"}),
}
MAX_LOCAL_MODULES = 50


@dataclass(frozen=True)
class ScriptInfo:
    path: Path  # absolute
    code: str
    imports: frozenset[str]  # top-level module names imported by the script or by its local modules
    local_modules: tuple[Path, ...] = ()  # the script's own modules beside it (files or packages), absolute
    torch_prune: bool = False  # uses torch.nn.utils.prune

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def framework(self) -> Framework:
        return detect_framework(self.imports)

    def components(self) -> set[Component]:
        found = {c for c, modules in COMPONENT_MODULES.items() if self.imports & modules}
        return found | ({Component.torch_prune} if self.torch_prune else set())


def read_script(path: Path) -> ScriptInfo:
    """Read and parse SCRIPT and the local modules it imports; a clear error when it is no Python script."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ScriptError(f"script '{path}' does not exist", "give the path of a Python training script")
    if not path.is_file():
        raise ScriptError(f"'{path}' is not a file", "give the path of the script itself, not of its folder")
    code, tree = _parse(path)
    path = path.resolve()
    imports, local = set(), []
    pending = [tree]
    while pending:
        for name in imported_modules(pending.pop()):
            imports.add(name.split(".")[0])
            module = _local_module(path.parent, name)
            if module is not None and module not in local and module != path and len(local) < MAX_LOCAL_MODULES:
                local.append(module)
                pending.extend(_module_trees(module))
    prune = any("torch.nn.utils.prune" in m or m == "torch.nn.utils" for m in _all_modules(tree))
    return ScriptInfo(path=path, code=code, imports=frozenset(imports), local_modules=tuple(local), torch_prune=prune)


def _parse(path: Path) -> tuple[str, ast.AST]:
    if path.suffix == ".ipynb":
        raise ScriptError(f"'{path}' is a notebook, not a script",
                          f"export it first: jupyter nbconvert --to script {path.name}")
    try:
        code = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ScriptError(f"'{path}' is not a text file (not UTF-8)", "give a Python script (.py)") from None
    try:
        return code, ast.parse(code, filename=str(path))
    except SyntaxError as exc:
        raise ScriptError(f"'{path}' is not valid Python: {exc.msg} (line {exc.lineno})",
                          "give a Python script that runs with `python SCRIPT`") from None
    except ValueError as exc:  # null bytes
        raise ScriptError(f"'{path}' is not a Python script: {exc}", "give a Python script (.py)") from None


def imported_modules(tree: ast.AST) -> list[str]:
    """Absolute module names of every import statement (relative imports are left out)."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def _all_modules(tree: ast.AST) -> list[str]:
    out = imported_modules(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return out


def _local_module(folder: Path, name: str) -> Path | None:
    head = name.split(".")[0]
    for candidate in (folder / f"{head}.py", folder / head):
        if candidate.is_file() or (candidate.is_dir() and any(candidate.glob("*.py"))):
            return candidate.resolve()
    return None


def _module_trees(module: Path) -> list[ast.AST]:
    files = [module] if module.is_file() else sorted(module.rglob("*.py"))
    trees = []
    for file in files:
        try:
            trees.append(ast.parse(file.read_text(encoding="utf-8")))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue  # the sandbox run will say what is wrong with it
    return trees


def detect_framework(imports: frozenset[str] | set[str]) -> Framework:
    for framework, modules in FRAMEWORK_MODULES:
        if imports & modules:
            return framework
    return Framework.none


def string_argument(code: str, function: str, keyword: str) -> str | None:
    """The literal string passed as `keyword` (or first positional argument) to a call ending in `function`,
    e.g. the project of `wandb.init(project="x")`; None when there is none."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not ast.unparse(node.func).endswith(function):
            continue
        values = [k.value for k in node.keywords if k.arg == keyword] + node.args[:1]
        for value in values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                return value.value
    return None


@dataclass(frozen=True)
class FixtureEntry:
    """A file or folder the script needs, and where it goes in the work dir (relative to the script's folder)."""

    source: Path
    target: Path
    auto: bool = False  # found by the analysis (a local module), not given with --fixtures


def fixture_entries(script: ScriptInfo, given: list[Path]) -> list[FixtureEntry]:
    """--fixtures paths inside the script's folder keep their place relative to it (the sandbox runs the script
    from its work dir as from its folder); others go to the top of the work dir. Local modules come along."""
    out: list[FixtureEntry] = []
    for raw in given:
        source = Path(raw).expanduser()
        if not source.exists():
            raise ScriptError(f"fixture '{raw}' does not exist", "give existing files or folders with --fixtures")
        source = source.resolve()
        if source == script.path:
            continue
        try:
            target = source.relative_to(script.folder)
        except ValueError:
            target = Path(source.name)
        out.append(FixtureEntry(source, target))
    covered = [e.source for e in out]
    for module in script.local_modules:
        if not any(module == c or c in module.parents for c in covered):
            out.append(FixtureEntry(module, module.relative_to(script.folder), auto=True))
    return out


def logs_in_a_loop(code: str) -> bool:
    """True when some `...log(...)`-like call (wandb.log, mlflow.log_metric, run.log) sits inside a loop."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    for loop in ast.walk(tree):
        if isinstance(loop, (ast.For, ast.While, ast.AsyncFor)):
            for node in ast.walk(loop):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                        and node.func.attr in ("log", "log_metric", "log_metrics"):
                    return True
    return False
