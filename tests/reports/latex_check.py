"""Checks that generated LaTeX is well formed: with pdflatex when installed, else structurally."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

_ENV = re.compile(r"\\(begin|end)\{([^}]*)\}")
_TABULAR = re.compile(r"\\begin\{tabular\}\{([^}]*)\}(.*?)\\end\{tabular\}", re.DOTALL)
_MULTICOL = re.compile(r"\\multicolumn\{(\d+)\}")


def _strip_escapes(text: str) -> str:
    text = "\n".join(re.split(r"(?<!\\)%", line, maxsplit=1)[0] for line in text.splitlines())  # drop comments
    return re.sub(r"\\[{}&%$#_]", "", text)


def structural_errors(tex: str) -> list[str]:
    """Unbalanced braces or environments, unescaped specials, and rows whose column count differs from the spec."""
    errors = []
    body = _strip_escapes(tex)
    depth = 0
    for ch in body:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            errors.append("a '}' closes more than was opened")
            break
    if depth > 0:
        errors.append(f"{depth} unclosed '{{'")
    stack = []
    for kind, name in _ENV.findall(body):
        if kind == "begin":
            stack.append(name)
        elif not stack or stack.pop() != name:
            errors.append(f"\\end{{{name}}} does not match the open environment")
    errors += [f"environment {name} is never closed" for name in stack]
    errors += _tabular_errors(body)
    outside_labels = re.sub(r"\\(label|ref)\{[^}]*\}", "", body)
    for special, pattern in (("_", r"_"), ("#", r"#(?!\d)")):  # '#1' is a macro parameter
        if re.search(pattern, outside_labels):
            errors.append(f"an unescaped '{special}' outside \\label")
    return errors


def _tabular_errors(body: str) -> list[str]:
    errors = []
    for spec, content in _TABULAR.findall(body):
        expected = len(re.findall(r"[lcrp]", spec))
        for row in content.split(r"\\")[:-1]:
            row = re.sub(r"\\(toprule|midrule|bottomrule|cmidrule(\([lr]+\))?\{[^}]*\})", "", row).strip()
            if not row:
                continue
            cells = row.split("&")
            width = sum(int(m.group(1)) if (m := _MULTICOL.search(c)) else 1 for c in cells)
            if width != expected:
                errors.append(f"row spans {width} columns, the tabular has {expected}: {row[:80]!r}")
    return errors


def pdflatex() -> str | None:
    return shutil.which("pdflatex")


def compile_errors(tex_path: Path) -> str | None:
    """Compile with pdflatex in the file's folder; None on success, else the log's error lines."""
    result = subprocess.run([pdflatex(), "-interaction=nonstopmode", "-halt-on-error", tex_path.name],
                            cwd=tex_path.parent, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode == 0 and (tex_path.with_suffix(".pdf")).exists():
        return None
    return "\n".join(line for line in result.stdout.splitlines() if line.startswith("!") or "Error" in line)[:2000]
