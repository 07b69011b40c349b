"""Render an installed package's own documentation to static HTML pages (the `installed` corpus source).

Pages, linked so that a depth-2 crawl from index.html reaches all of them:

    index.html                     depth 0: the package, its modules, its command line
    mod/<module>.html              depth 1: module docstring, its functions in full, links to its classes
    cls/<module>.<Class>.html      depth 2: class docstring, constructor, methods and properties in full
    cli/index.html                 depth 1: the commands
    cli/<command>.html             depth 2: `<prog> <command> --help`, and each sub-command's help

Every entry is headed by its fully qualified name and signature (`dvc.repo.Repo.add(self, targets, ...)`), so a chunk
says which API it documents.
"""

from __future__ import annotations

import argparse
import html
import importlib
import inspect
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class RenderOptions:
    modules: list[str]
    cli_parser: str | None = None  # "module:function" returning the program's argparse parser
    cli_program: str = ""
    env: dict[str, str] = field(default_factory=dict)  # set (if unset) before importing, e.g. KERAS_BACKEND
    max_modules: int | None = None  # caps, for quick builds (tests)
    max_classes: int | None = None
    max_commands: int | None = None


@dataclass
class _Site:
    root: Path
    title: str
    modules: list[tuple[str, str]] = field(default_factory=list)  # (name, first docstring line)
    pages: int = 0

    def write(self, rel: str, title: str, body: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        depth = rel.count("/")
        home = "../" * depth + "index.html"
        path.write_text(_PAGE.format(title=html.escape(title), home=home, site=html.escape(self.title), body=body))
        self.pages += 1


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title></head>
<body><header><a href="{home}">{site}</a></header>
<nav><a href="{home}">index</a></nav>
<main>
{body}
</main>
<footer>Rendered from the installed package by adaptbench.</footer></body></html>
"""


def render_site(component: str, version: str, options: RenderOptions, root: Path) -> int:
    """Write the pages under `root`; return how many."""
    site = _Site(root, f"{component} {version} API reference")
    for key, value in options.env.items():
        os.environ.setdefault(key, value)
    modules = options.modules[: options.max_modules] if options.max_modules else options.modules
    documented: set[str] = set()
    for name in modules:
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - an optional sub-module may not import; document the rest
            log.warning("skipping module %s: %s", name, exc)
            continue
        _render_module(site, module, options, documented)
    has_cli = bool(options.cli_parser) and _render_cli(site, options)
    _render_index(site, component, version, has_cli, options.cli_program)
    return site.pages


def _render_index(site: _Site, component: str, version: str, has_cli: bool, program: str) -> None:
    items = "".join(f'<li><a href="mod/{m}.html">{m}</a> — {html.escape(doc)}</li>' for m, doc in site.modules)
    cli = f'<h2>Command line</h2><p><a href="cli/index.html">{program} commands</a></p>' if has_cli else ""
    site.write("index.html", site.title, f"<h1>{html.escape(component)} {html.escape(version)}</h1>"
               f"<h2>Python API</h2><ul>{items}</ul>{cli}")


# ---------------------------------------------------------------- Python API


def _public_members(module) -> list[tuple[str, Any]]:
    names = getattr(module, "__all__", None)
    if names is None:
        own = module.__name__
        names = [n for n, obj in vars(module).items() if not n.startswith("_") and
                 _within(getattr(obj, "__module__", None) or "", own)]
    out = []
    for name in names:
        obj = getattr(module, name, None)
        if obj is not None and (inspect.isclass(obj) or inspect.isroutine(obj)):
            out.append((name, obj))
    return out


def _within(name: str, package: str) -> bool:
    """Defined in `package` or one of its sub-modules (a package's re-exports count as its own)."""
    return name == package or name.startswith(package + ".")


def _render_module(site: _Site, module, options: RenderOptions, documented: set[str]) -> None:
    name = module.__name__
    doc = inspect.getdoc(module) or ""
    site.modules.append((name, doc.split("\n", 1)[0]))
    functions, classes = [], []
    for member, obj in _public_members(module):
        (classes if inspect.isclass(obj) else functions).append((member, obj))
    if options.max_classes:
        classes = classes[: options.max_classes]
    parts = [f"<h1>{name}</h1>", _pre(doc)]
    if classes:
        parts.append("<h2>Classes</h2><ul>")
        for member, cls in classes:
            qual = f"{cls.__module__}.{cls.__qualname__}"
            parts.append(f'<li><a href="../cls/{qual}.html">{name}.{member}</a> — {html.escape(_first(cls))}</li>')
            if qual not in documented:
                documented.add(qual)
                _render_class(site, cls, qual, f"{name}.{member}")
        parts.append("</ul>")
    if functions:
        parts.append("<h2>Functions</h2>")
        parts.extend(_entry(f"{name}.{member}", fn, "function") for member, fn in functions)
    site.write(f"mod/{name}.html", f"{name} — module", "\n".join(parts))


def _render_class(site: _Site, cls: type, qual: str, public_name: str) -> None:
    root = cls.__module__.split(".")[0]
    parts = [f"<h1>class {public_name}{_signature(cls)}</h1>",
             f"<p>Defined in <code>{qual}</code>.</p>", _pre(inspect.getdoc(cls) or "")]
    for name in sorted(dir(cls)):
        if name.startswith("_"):
            continue
        owner = next((k for k in cls.__mro__ if name in vars(k)), None)
        if owner is None or not owner.__module__.startswith(root):
            continue  # inherited from outside the package (object, dict, ...)
        kind, fn = _member_kind(vars(owner)[name])
        if kind:
            parts.append(_entry(f"{public_name}.{name}", fn, kind))
    site.write(f"cls/{qual}.html", f"{public_name} — class", "\n".join(parts))


def _member_kind(raw: Any) -> tuple[str | None, Any]:
    if isinstance(raw, staticmethod):
        return "staticmethod", raw.__func__
    if isinstance(raw, classmethod):
        return "classmethod", raw.__func__
    if isinstance(raw, property):
        return "property", raw.fget
    if inspect.isfunction(raw):
        return "method", raw
    inner = getattr(raw, "func", None) or getattr(raw, "fget", None)  # functools / funcy cached_property
    if inner is not None and inspect.isroutine(inner):
        return "property", inner
    return None, None


def _entry(qualified: str, fn: Callable, kind: str) -> str:
    signature = "" if kind == "property" else _signature(fn)
    doc = inspect.getdoc(fn) or "(no docstring)"
    return f"<h3>{html.escape(qualified + signature)}</h3><p><em>{kind}</em></p>{_pre(doc)}"


def _signature(obj: Any) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"


def _first(obj: Any) -> str:
    return (inspect.getdoc(obj) or "").split("\n", 1)[0]


def _pre(text: str) -> str:
    return f"<pre>{html.escape(text)}</pre>" if text else ""


# ---------------------------------------------------------------- command line


def _render_cli(site: _Site, options: RenderOptions) -> bool:
    module_name, _, attr = options.cli_parser.partition(":")
    try:
        parser = getattr(importlib.import_module(module_name), attr)()
    except Exception as exc:  # noqa: BLE001 - the CLI pages are a bonus; the API pages still build
        log.warning("no command-line pages: cannot build the %s parser: %s", options.cli_program, exc)
        return False
    commands = _unique_commands(parser)
    if options.max_commands:
        commands = commands[: options.max_commands]
    program = options.cli_program
    items = "".join(f'<li><a href="{name}.html">{program} {name}</a> — {html.escape(p.description or "")[:160]}'
                    f"</li>" for name, p in commands)
    site.write("cli/index.html", f"{program} commands", f"<h1>{program} commands</h1><ul>{items}</ul>")
    for name, sub in commands:
        parts = [f"<h1>{program} {name}</h1>", _summary(sub), _pre(_help(sub))]
        for child_name, child in _unique_commands(sub):
            parts += [f"<h2>{program} {name} {child_name}</h2>", _summary(child), _pre(_help(child))]
        site.write(f"cli/{name}.html", f"{program} {name} — command", "\n".join(parts))
    return True


def _unique_commands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    """Sub-commands, each once (aliases such as `ls`/`list` share a parser)."""
    seen, out = set(), []
    for action in parser._actions:  # argparse has no public accessor for sub-parsers
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if id(sub) not in seen:
                    seen.add(id(sub))
                    out.append((name, sub))
    return out


def _summary(parser: argparse.ArgumentParser) -> str:
    """The command's description first: what it does leads the chunk, ahead of the option list."""
    text = _ANSI.sub("", parser.description or "").split("Documentation:")[0].strip()
    return f"<p>{html.escape(text)}</p>" if text else ""


def _help(parser: argparse.ArgumentParser) -> str:
    try:
        return _ANSI.sub("", parser.format_help())  # dvc colours the URLs in its help
    except Exception as exc:  # noqa: BLE001 - a broken help string must not stop the build
        return f"(help unavailable: {exc})"
