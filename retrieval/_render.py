"""Render an installed package's own documentation to static HTML pages (the `installed` corpus source).

Pages, linked so that a depth-2 crawl from index.html reaches all of them:

    index.html                     depth 0: the package, its modules, its command line
    mod/<module>.html              depth 1: module docstring, a summary of its API, its functions in full, links to
                                   its classes
    cls/<module>.<Class>.html      depth 2: class docstring, a summary of its members, constructor, methods and
                                   properties in full
    cli/index.html                 depth 1: the commands
    cli/<command>.html             depth 2: `<prog> <command> --help`, and each sub-command's help

Every entry is headed by its fully qualified name and parameter names (`dvc.repo.Repo.add(targets, no_commit, …)`),
so a chunk says which API it documents; what it does (the docstring's first paragraph) follows, then its full typed
signature and the rest of its docstring (arguments, examples). A summary lists each entry on one line (qualified name,
parameters, first docstring line), as an API reference's table of contents does; an entry with neither docstring nor
command is that line only, and a function documented under two names (`wandb.log` is `wandb.Run.log`) is documented
once, the other name pointing there. A package's top-level namespace counts as public even where `__all__` leaves a
name out (`wandb.Artifact`).

When the definition names the objects a command's implementation calls (`[cli] api`, e.g. `self.repo` ->
`dvc.repo.Repo`), each command page says which Python API it runs and each such API entry says which command runs it
(DVC's Python methods carry no docstrings; the command's help is what documents them).
"""

from __future__ import annotations

import argparse
import html
import importlib
import inspect
import logging
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._introspect import annotation_class, public_name

log = logging.getLogger(__name__)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
SUMMARY_PARAMS = 8  # parameters named in a summary line before "…"
SUMMARY_DESCRIPTION = 90  # characters of description in a summary line


@dataclass
class RenderOptions:
    modules: list[str]
    cli_parser: str | None = None  # "module:function" returning the program's argparse parser
    cli_program: str = ""
    cli_api: dict[str, str] = field(default_factory=dict)  # receiver in a command's code -> the class it holds
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
    commands_of: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # API -> [(command, description)]
    names: dict[int, str] = field(default_factory=dict)  # id of a documented function -> the name it was documented as

    def first_name(self, fn: Callable, qualified: str) -> str:
        """The name `fn` (unwrapped) was first documented under; `qualified` for a function not seen before."""
        try:
            key = id(inspect.unwrap(fn))
        except ValueError:  # a wrapper cycle
            key = id(fn)
        return self.names.setdefault(key, qualified)

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
    parser = _cli_parser(options)
    commands = _commands(parser, options) if parser is not None else []
    site.commands_of = _api_of_commands(commands, options)
    modules = options.modules[: options.max_modules] if options.max_modules else options.modules
    documented: set[str] = set()
    for name in modules:
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - an optional sub-module may not import; document the rest
            log.warning("skipping module %s: %s", name, exc)
            continue
        _render_module(site, module, options, documented)
    if parser is not None:
        _render_cli(site, options, commands)
    _render_index(site, component, version, parser is not None, options.cli_program)
    return site.pages


def _render_index(site: _Site, component: str, version: str, has_cli: bool, program: str) -> None:
    items = "".join(f'<li><a href="mod/{m}.html">{m}</a> — {html.escape(doc)}</li>' for m, doc in site.modules)
    cli = f'<h2>Command line</h2><p><a href="cli/index.html">{program} commands</a></p>' if has_cli else ""
    site.write("index.html", site.title, f"<h1>{html.escape(component)} {html.escape(version)}</h1>"
               f"<h2>Python API</h2><ul>{items}</ul>{cli}")


# ---------------------------------------------------------------- Python API


def _public_members(module) -> list[tuple[str, Any]]:
    own = module.__name__
    defined_here = [n for n, obj in vars(module).items() if not n.startswith("_") and
                    _within(getattr(obj, "__module__", None) or "", own)]
    names = getattr(module, "__all__", None)
    if names is None:
        names = defined_here
    elif "." not in own:  # a package's top-level namespace is its public API, listed in __all__ or not
        names = [*names, *(n for n in defined_here if n not in names)]
    out = []
    for name in dict.fromkeys(names):
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
    summary = [_summary_line(site, f"{name}.{member}", fn, "function") for member, fn in functions]
    related = []
    for member, cls in classes:
        qual = f"{cls.__module__}.{cls.__qualname__}"
        summary.append(_class_line(qual, f"{name}.{member}", cls))
        if qual not in documented:
            documented.add(qual)
            related += _render_class(site, cls, qual, f"{name}.{member}", documented)
    summary += [_class_line(qual, shown, cls) for qual, shown, cls in related]  # linked here: a crawl reaches them
    if summary:
        parts.append(f"<h2>{name} API summary</h2>{_summary_list(summary)}")
    if functions:
        parts.append("<h2>Functions</h2>")
        parts.extend(_entry(site, f"{name}.{member}", fn, "function") for member, fn in functions)
    site.write(f"mod/{name}.html", f"{name} — module", "\n".join(parts))


def _class_line(qual: str, shown_name: str, cls: type) -> tuple[bool, str]:
    first = _sentence(_first(cls))
    described = f" — {html.escape(first)}" if first else ""
    return bool(first), (f'<li>class <a href="../cls/{qual}.html">{shown_name}</a>{_short_signature(cls, "class")}'
                         f"{described}</li>")


def _render_class(site: _Site, cls: type, qual: str, shown_name: str, documented: set[str]) -> list[tuple]:
    """Write the class' page, and those of the classes its attributes hold; return those (qual, name, class)."""
    members = list(_class_members(cls))
    attributes = _attributes(cls)
    doc = inspect.getdoc(cls) or ""
    lead, rest = _paragraphs(doc)
    parts = [f"<h1>class {shown_name}{_short_signature(cls, 'class')}</h1>", _pre(lead),
             f"<p>Defined in <code>{qual}</code>.</p><p>Signature: <code>{html.escape(shown_name + _signature(cls))}</code></p>",
             _pre(rest)]
    if members or attributes:
        lines = [_summary_line(site, f"{shown_name}.{name}", fn, kind) for name, kind, fn in members]
        lines += [(bool(_described_attribute(doc, name)),
                   f"<li>{html.escape(f'{shown_name}.{name}')} — attribute: {html.escape(_type_name(t))}</li>")
                  for name, t in attributes]
        parts.append(f"<h2>{shown_name} members</h2>{_summary_list(lines)}")
    parts.extend(_attribute_entry(f"{shown_name}.{name}", kind_of, doc) for name, kind_of in attributes)
    parts.extend(_entry(site, f"{shown_name}.{name}", fn, kind) for name, kind, fn in members)
    site.write(f"cls/{qual}.html", f"{shown_name} — class", "\n".join(parts))
    related = []
    for _, kind_of in attributes:  # the classes of its attributes are part of the API it hands out
        if isinstance(kind_of, type) and (held := f"{kind_of.__module__}.{kind_of.__qualname__}") not in documented:
            documented.add(held)
            related.append((held, public_name(kind_of), kind_of))
            related += _render_class(site, kind_of, held, public_name(kind_of), documented)
    return related


def _attributes(cls: type) -> list[tuple[str, Any]]:
    """Public attributes the class (or a base of its package) annotates, with the class each holds when known."""
    root = cls.__module__.split(".")[0]
    found: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if not klass.__module__.startswith(root):
            continue
        namespace = vars(sys.modules.get(klass.__module__)) if klass.__module__ in sys.modules else {}
        for name, annotation in vars(klass).get("__annotations__", {}).items():
            if not name.startswith("_") and not any(name in vars(k) for k in cls.__mro__):
                held = annotation_class(annotation, namespace)
                found[name] = held if held is not None and held.__module__.startswith(root) else annotation
    return sorted(found.items())


def _attribute_entry(qualified: str, held: Any, class_doc: str) -> str:
    described = _described_attribute(class_doc, qualified.rsplit(".", 1)[1])
    body = _pre(described) if described else ""
    if isinstance(held, type):
        body += f"<p>An instance of <code>{html.escape(public_name(held))}</code>: {html.escape(_first(held))}</p>"
    return f"<h3>{html.escape(qualified)}</h3><p><em>attribute: {html.escape(_type_name(held))}</em></p>{body}"


def _described_attribute(class_doc: str, name: str) -> str:
    """The lines of an `Attributes:` section of the class docstring that describe `name`."""
    lines = class_doc.splitlines()
    for i, line in enumerate(lines):
        if re.match(rf"\s*{re.escape(name)}\s*[:(]", line):
            indent = len(line) - len(line.lstrip())
            block = [line.strip()]
            for more in lines[i + 1:]:
                if more.strip() and len(more) - len(more.lstrip()) <= indent:
                    break
                block.append(more.strip())
            return " ".join(b for b in block if b)
    return ""


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return public_name(annotation)
    return str(annotation).replace("typing.", "")


def _class_members(cls: type):
    """(name, kind, function) of the public members defined in the class' own package."""
    root = cls.__module__.split(".")[0]
    for name in sorted(dir(cls)):
        if name.startswith("_"):
            continue
        owner = next((k for k in cls.__mro__ if name in vars(k)), None)
        if owner is None or not owner.__module__.startswith(root):
            continue  # inherited from outside the package (object, dict, ...)
        kind, fn = _member_kind(vars(owner)[name])
        if kind:
            yield name, kind, fn


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


def _entry(site: _Site, qualified: str, fn: Callable, kind: str) -> str:
    """An entry: its name and parameters as the heading, what it does, its full signature, the rest of its
    docstring. The heading stays short (a typed signature can outgrow what an embedder reads of a chunk). An entry
    with neither docstring nor command says nothing its summary line does not (name and parameters) and gets no
    section: its own chunk would only draw searches by its parameter names. A function already documented under
    another name (W&B's `wandb.log` is `wandb.Run.log`) points there."""
    lead, rest = _paragraphs(inspect.getdoc(fn) or "")
    commands = site.commands_of.get(qualified, [])
    if not (lead or commands):
        return ""
    same = site.first_name(fn, qualified)
    if same != qualified:
        lead, rest = f"The same function as {same} (documented there): {_sentence(lead, 200)}", ""
    ran = "".join(f"<p>Runs behind the command line <code>{html.escape(c)}</code>: {html.escape(d)}</p>"
                  for c, d in commands)
    signature = "" if kind == "property" else f"<p>Signature: <code>{html.escape(qualified + _signature(fn))}</code></p>"
    heading = html.escape(qualified + _short_signature(fn, kind))
    return f"<h3>{heading}</h3><p><em>{kind}</em></p>{_pre(lead)}{ran}{signature}{_pre(rest)}"


def _paragraphs(doc: str) -> tuple[str, str]:
    """(first paragraph, the rest) of a docstring."""
    lead, _, rest = doc.strip().partition("\n\n")
    return lead.strip(), rest.strip()


def _summary_line(site: _Site, qualified: str, fn: Callable, kind: str) -> tuple[bool, str]:
    """(documented, the line): the entry's name, parameters and first sentence (or the command it runs)."""
    commands = site.commands_of.get(qualified, [])
    first = _sentence(_first(fn)) or (f"runs `{commands[0][0]}`: {_sentence(commands[0][1])}" if commands else "")
    described = f" — {html.escape(first)}" if first else ""
    return bool(first), f"<li>{html.escape(qualified + _short_signature(fn, kind))}{described}</li>"


def _summary_list(lines: list[tuple[bool, str]]) -> str:
    """The documented entries first, then the others (an API's surface reads before its internals), each group
    in alphabetical order."""
    ordered = sorted(lines, key=lambda line: (not line[0], _summary_key(line[1])))
    return "<ul>" + "".join(line for _, line in ordered) + "</ul>"


def _sentence(text: str, limit: int = SUMMARY_DESCRIPTION) -> str:
    """The first sentence, cut at `limit` characters: a summary line stays one line."""
    first = re.split(r"(?<=[.!?])\s", " ".join(text.split()), maxsplit=1)[0]
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"


def _summary_key(line: str) -> str:
    return re.sub(r"<[^>]+>", "", line).removeprefix("class ").lower()


_ADDRESS = re.compile(r" at 0x[0-9a-f]+")
_FORWARD_REF = re.compile(r"ForwardRef\('([^']*)'\)")
_QUOTED_ANNOTATION = re.compile(r"""(?<=: )["']+([^"'=,()]*)["']+|(?<=-> )["']+([^"'=,()]*)["']+""")


def _signature(obj: Any) -> str:
    """The signature as Python prints it, without the noise of postponed annotations."""
    try:
        text = str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"
    text = _FORWARD_REF.sub(r"\1", text).replace("typing.", "").replace("collections.abc.", "")
    text = _ADDRESS.sub("", text.replace("NoneType", "None"))  # `<object object at 0x7f…>`: a build-to-build change
    return _QUOTED_ANNOTATION.sub(lambda m: m.group(1) or m.group(2), text)


def _short_signature(obj: Any, kind: str) -> str:
    """Parameter names only (`(targets, remote, jobs, …)`); the bound first parameter of a method left out."""
    if kind == "property":
        return ""
    try:
        parameters = list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        return "(…)"
    if kind in ("method", "classmethod") and parameters:
        parameters = parameters[1:]
    names = [("*" if p.kind is p.VAR_POSITIONAL else "**" if p.kind is p.VAR_KEYWORD else "") + p.name
             for p in parameters if not p.name.startswith("_") and p.name != "self"]  # W&B's bound functions
    shown = names[:SUMMARY_PARAMS] + (["…"] if len(names) > SUMMARY_PARAMS else [])
    return f"({', '.join(shown)})"


def _first(obj: Any) -> str:
    return (inspect.getdoc(obj) or "").split("\n", 1)[0]


def _pre(text: str) -> str:
    return f"<pre>{html.escape(text)}</pre>" if text else ""


# ---------------------------------------------------------------- command line


def _cli_parser(options: RenderOptions) -> argparse.ArgumentParser | None:
    if not options.cli_parser:
        return None
    module_name, _, attr = options.cli_parser.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)()
    except Exception as exc:  # noqa: BLE001 - the CLI pages are a bonus; the API pages still build
        log.warning("no command-line pages: cannot build the %s parser: %s", options.cli_program, exc)
        return None


def _commands(parser: argparse.ArgumentParser, options: RenderOptions) -> list[tuple[str, argparse.ArgumentParser]]:
    commands = _unique_commands(parser)
    return commands[: options.max_commands] if options.max_commands else commands


def _api_of_commands(commands, options: RenderOptions) -> dict[str, list[tuple[str, str]]]:
    """Python API -> the commands whose implementation calls it (read from the command classes' source)."""
    out: dict[str, list[tuple[str, str]]] = {}
    program = options.cli_program
    for name, sub in commands:
        for words, parser in [(name, sub), *((f"{name} {c}", p) for c, p in _unique_commands(sub))]:
            for api in _api_calls(parser, options.cli_api):
                out.setdefault(api, []).append((f"{program} {words}", _description(parser)))
    return out


def _api_calls(parser: argparse.ArgumentParser, receivers: dict[str, str]) -> list[str]:
    """`self.repo.push(...)` in the command's class, with `self.repo` -> `dvc.repo.Repo`: `dvc.repo.Repo.push`."""
    implementation = parser._defaults.get("func")  # argparse keeps set_defaults() here
    if not receivers or not inspect.isclass(implementation):
        return []
    try:
        source = inspect.getsource(implementation)
    except (OSError, TypeError):
        return []
    found = []
    for receiver, cls in receivers.items():
        for method in re.findall(rf"(?<![\w.]){re.escape(receiver)}\.([A-Za-z]\w*)\s*\(", source):
            found.append(f"{cls}.{method}")
    return list(dict.fromkeys(found))


def _render_cli(site: _Site, options: RenderOptions, commands) -> None:
    program = options.cli_program
    items = "".join(f'<li><a href="{name}.html">{program} {name}</a> — {html.escape(p.description or "")[:160]}'
                    f"</li>" for name, p in commands)
    site.write("cli/index.html", f"{program} commands", f"<h1>{program} commands</h1><ul>{items}</ul>")
    for name, sub in commands:
        parts = [f"<h1>{program} {name}</h1>", _summary(sub), _python_api(sub, options), _pre(_help(sub))]
        for child_name, child in _unique_commands(sub):
            parts += [f"<h2>{program} {name} {child_name}</h2>", _summary(child), _python_api(child, options),
                      _pre(_help(child))]
        site.write(f"cli/{name}.html", f"{program} {name} — command", "\n".join(parts))


def _python_api(parser: argparse.ArgumentParser, options: RenderOptions) -> str:
    calls = _api_calls(parser, options.cli_api)
    if not calls:
        return ""
    named = ", ".join(f"<code>{html.escape(c + _short_signature(_resolve(c), 'method'))}</code>" for c in calls)
    return f"<p>Python API: {named}</p>"


def _resolve(qualified: str) -> Any:
    module_name, _, rest = qualified.rpartition(".")
    owner_module, _, owner = module_name.rpartition(".")
    try:
        return getattr(getattr(importlib.import_module(owner_module), owner), rest)
    except (ImportError, AttributeError, ValueError):
        return None


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


def _description(parser: argparse.ArgumentParser) -> str:
    return _ANSI.sub("", parser.description or "").split("Documentation:")[0].strip()


def _summary(parser: argparse.ArgumentParser) -> str:
    """The command's description first: what it does leads the chunk, ahead of the option list."""
    text = _description(parser)
    return f"<p>{html.escape(text)}</p>" if text else ""


def _help(parser: argparse.ArgumentParser) -> str:
    try:
        return _ANSI.sub("", parser.format_help())  # dvc colours the URLs in its help
    except Exception as exc:  # noqa: BLE001 - a broken help string must not stop the build
        return f"(help unavailable: {exc})"
