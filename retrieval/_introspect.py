"""What an installed library says about its own API: the object behind a dotted name, and the class of the value a
callable (or property) returns, read from its return annotation. Used by the symbol analysis to follow values
returned by calls (`run = wandb.init()` -> a `wandb.Run`; `origin = repo.remote()` -> a `git.Remote`).

Nothing here runs library code beyond importing the modules a name lives in; a library that is not installed, or a
name that does not resolve, answers None and the analysis falls back to what it can read from the code alone."""

from __future__ import annotations

import ast
import builtins
import functools
import importlib
import inspect
import logging
import types
import typing
from typing import Any

log = logging.getLogger(__name__)

_MISSING = object()


def _under(name: str, roots: tuple[str, ...]) -> bool:
    return any(name == r or name.startswith(r + ".") for r in roots)


@functools.lru_cache(maxsize=2048)
def library_object(qualified: str) -> Any:
    """The object `a.b.C.m` names (the longest importable module prefix, then attributes), or None."""
    parts = qualified.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except Exception as exc:  # noqa: BLE001 - not a module (or one that does not import here): try a shorter prefix
            log.debug("%s is no importable module: %s", ".".join(parts[:cut]), exc)
            continue
        for attr in parts[cut:]:
            obj = inspect.getattr_static(obj, attr, _MISSING) if inspect.isclass(obj) else getattr(obj, attr, _MISSING)
            if obj is _MISSING:
                return None
        return obj
    return None


def public_name(cls: type) -> str:
    """The shortest dotted path the class is reachable by from its own package (`wandb.sdk.wandb_run.Run` ->
    `wandb.Run`, `git.repo.base.Repo` -> `git.Repo`); its defining path when nothing shorter exports it."""
    parts = cls.__module__.split(".")
    for cut in range(1, len(parts) + 1):
        module_name = ".".join(parts[:cut])
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # noqa: BLE001 - a private sub-module that does not import on its own
            log.debug("cannot import %s: %s", module_name, exc)
            continue
        if getattr(module, cls.__name__, None) is cls:
            return f"{module_name}.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def returned_class(qualified: str, roots: tuple[str, ...], called: bool = True) -> str | None:
    """The public name of the library class whose instance calling `qualified` (`called`), or reading it when it
    is a property, yields, as the library's annotations say; None otherwise. A class called is its own name."""
    obj = library_object(qualified)
    if obj is None:
        return None
    if inspect.isclass(obj):
        return qualified if called else None
    if not called and not isinstance(obj, (property, functools.cached_property)):
        return None
    function = _underlying_function(obj)
    if function is None:
        return None
    cls = annotation_class(_return_annotation(function), getattr(function, "__globals__", {}))
    return public_name(cls) if cls is not None and _under(cls.__module__, roots) else None


def dynamic_attribute(class_name: str, attr: str) -> bool:
    """The class answers `attr` only at run time (it defines `__getattr__` and has no such attribute)."""
    cls = library_object(class_name)
    if not inspect.isclass(cls) or inspect.getattr_static(cls, attr, _MISSING) is not _MISSING:
        return False
    return any("__getattr__" in vars(k) for k in cls.__mro__ if k is not object)


def _underlying_function(obj: Any):
    if isinstance(obj, (staticmethod, classmethod)):
        return obj.__func__
    if isinstance(obj, property):
        return obj.fget
    if isinstance(obj, functools.cached_property):
        return obj.func
    inner = getattr(obj, "func", None) or getattr(obj, "fget", None)  # funcy / other cached properties
    if inner is not None and inspect.isroutine(inner):
        return inner
    return obj if callable(obj) else None


def _return_annotation(function) -> Any:
    try:
        annotation = inspect.signature(function).return_annotation
    except (TypeError, ValueError):
        return None
    return None if annotation is inspect.Signature.empty else annotation


def annotation_class(annotation: Any, namespace: dict) -> type | None:
    """The class an annotation stands for: `Repo`, `"Repo"`, `Run | None`, `Optional["Remote"]` -> the class."""
    if annotation is None:
        return None
    if isinstance(annotation, str):
        try:
            node = ast.parse(annotation.strip(), mode="eval").body
        except SyntaxError:
            return None
        return _node_class(node, namespace)
    if inspect.isclass(annotation) and not isinstance(annotation, types.GenericAlias):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return next((c for arg in typing.get_args(annotation) if (c := annotation_class(arg, namespace))
                     and c is not type(None)), None)
    return None


def _node_class(node: ast.AST, namespace: dict) -> type | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return annotation_class(node.value, namespace)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _node_class(node.left, namespace) or _node_class(node.right, namespace)
    if isinstance(node, ast.Subscript) and dotted_name(node.value) in ("Optional", "typing.Optional"):
        return _node_class(node.slice, namespace)
    name = dotted_name(node)
    if name is None:
        return None
    head, *rest = name.split(".")
    obj = namespace.get(head, getattr(builtins, head, None))
    for attr in rest:
        obj = getattr(obj, attr, None)
    return obj if inspect.isclass(obj) and obj is not type(None) else None


def dotted_name(node: ast.AST) -> str | None:
    """`a.b.c` for an attribute chain on a name, else None."""
    attrs = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(attrs)]) if isinstance(node, ast.Name) else None
