"""Extracting the candidate script from a model's completion.

The result is an Extraction whose `kind` says what was found:

- fenced           one Python code block (```python, ```py, ```Python or a bare ``` holding Python)
- multiple_blocks  several Python blocks: the most complete one was chosen, or fragments of one script joined
- bare             Python without any fences (the prose around it is dropped)
- truncated        the output ends inside a code block or mid-statement and what is there does not compile
                   (an unclosed block that compiles is kept as fenced/multiple_blocks, with a note)
- elided           the code leaves parts out ("# rest of the code unchanged", "...", calls functions it dropped);
                   code=None because it cannot run as it is
- no_code          prose only, or only non-Python blocks (bash, text, ...)
- empty            nothing (or only chat-template tokens) was generated

`code` is None exactly when the kind is one of NO_CODE_KINDS; such a sample is recorded without execution:
`verdict_for` gives that Verdict (category no_code, code "extract.<kind>"). A script that does not compile is
still returned (kind fenced/multiple_blocks/bare): grading records it as a syntax error.
`extract_unchecked` is `extract_code` without the elision check, for benchmark.edits, which merges an elided
answer with the input where that is unambiguous (kind "merged").
"""

from __future__ import annotations

import ast
import builtins
import io
import logging
import re
import tokenize
import warnings
from dataclasses import dataclass

from .pyparse import parse_python
from .types import Extraction, FailureCategory, Status, Verdict

log = logging.getLogger(__name__)

FENCED, MULTIPLE, BARE = "fenced", "multiple_blocks", "bare"
TRUNCATED, ELIDED, NO_CODE, EMPTY = "truncated", "elided", "no_code", "empty"
KINDS = (FENCED, MULTIPLE, BARE, TRUNCATED, ELIDED, NO_CODE, EMPTY)
NO_CODE_KINDS = frozenset({TRUNCATED, ELIDED, NO_CODE, EMPTY})  # code is None for these, and only these

_BUILTINS = frozenset(dir(builtins))
PYTHON_LANGS = {"python", "py", "python3", "py3", "ipython"}

# ---------------------------------------------------------------- cleaning

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_NEXT_TURN = re.compile(r"\n\s*(?:### Instruction:|<\|im_start\|>\s*user|<\|user\|>|<start_of_turn>user|\[INST\])")
_CHAT_TOKENS = re.compile(
    r"<\|[A-Za-z0-9_.:\- ]{1,40}\|>"  # <|im_end|>, <|endoftext|>, <|eot_id|>, <|start_header_id|>, ...
    r"|<｜[^｜\n]{1,40}｜>"  # DeepSeek's full-width variant
    r"|</?s>|\[/?INST\]|<(?:start|end)_of_turn>(?:model|user)?|<\|?endoftext\|?>"
)
_ROLE_LINE = re.compile(r"\A\s*(?:assistant|model|### Response:|Response:)[ \t]*\n", re.IGNORECASE)


def clean_completion(text: str | None) -> str:
    """Normalise line endings and strip chat-template leftovers, reasoning blocks and a following user turn."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    text = _THINK.sub("", text)
    turn = _NEXT_TURN.search(text)
    if turn and text[: turn.start()].strip():
        text = text[: turn.start()]
    text = _CHAT_TOKENS.sub("", text)
    while True:
        stripped = _ROLE_LINE.sub("", text, count=1)
        if stripped == text:
            return text
        text = stripped


# ---------------------------------------------------------------- fences


@dataclass(frozen=True)
class Block:
    lang: str  # first word of the info string, lowercased; "" for a bare fence
    code: str
    closed: bool
    before: str  # the prose between the previous block and this one


_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*)$")


def split_fences(text: str) -> list[Block]:
    """Fenced blocks, line by line. A closing fence inside an open triple-quoted string is content."""
    blocks: list[Block] = []
    lines = text.split("\n")
    prose: list[str] = []
    i = 0
    while i < len(lines):
        match = _OPEN.match(lines[i])
        if not match:
            prose.append(lines[i])
            i += 1
            continue
        fence, indent = match["fence"], match["indent"]
        lang = _language(match["info"])
        body, i, closed = _read_block(lines, i + 1, fence)
        blocks.append(Block(lang, _dedent(body, indent), closed, "\n".join(prose)))
        prose = []
    return blocks


def _language(info: str) -> str:
    """"python" from "Python", "python title=x.py", "python:train.py", "{.python}"; "" for a bare fence."""
    word = (info.strip().split() or [""])[0].lstrip("{.")
    return re.match(r"[A-Za-z0-9_+\-]*", word).group(0).lower()


def _read_block(lines: list[str], start: int, fence: str) -> tuple[list[str], int, bool]:
    body: list[str] = []
    for j in range(start, len(lines)):
        stripped = lines[j].strip()
        if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence) and not _in_string(body):
            return body, j + 1, True
        body.append(lines[j])
    return body, len(lines), False


def _in_string(body: list[str]) -> bool:
    code = "\n".join(body)
    return code.count('"""') % 2 == 1 or code.count("'''") % 2 == 1


def _dedent(body: list[str], indent: str) -> str:
    if indent:
        body = [line.removeprefix(indent) for line in body]
    return "\n".join(body).strip("\n")


# ---------------------------------------------------------------- Python detection


def compile_error(code: str) -> SyntaxError | None:
    try:
        with warnings.catch_warnings():  # a candidate's SyntaxWarnings are its own business, not the run's output
            warnings.simplefilter("ignore", SyntaxWarning)
            compile(code, "<candidate>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return exc
    except ValueError as exc:  # e.g. null bytes
        return SyntaxError(str(exc))
    return None


_MEANINGFUL = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign,
               ast.AugAssign, ast.AnnAssign, ast.With, ast.For, ast.While, ast.If, ast.Try)


def looks_like_python(code: str) -> bool:
    """Compiles and holds real statements (a lone word or number also compiles)."""
    if compile_error(code) is not None:
        return False
    tree = parse_python(code)
    return any(isinstance(n, _MEANINGFUL) or (isinstance(n, ast.Expr) and isinstance(n.value, ast.Call))
               for n in tree.body)


_SHELL_START = re.compile(r"^\s*(?:\$ |pip3? |python3? |conda |apt(?:-get)? |git |dvc |mlflow |wandb |cd |export )")


def _is_python_block(block: Block) -> bool:
    if block.lang in PYTHON_LANGS:
        return True
    if block.lang:
        return False
    first = next((line for line in block.code.splitlines() if line.strip()), "")
    if _SHELL_START.match(first):
        return False
    return looks_like_python(block.code) or bool(_CODE_START.match(first))


# ---------------------------------------------------------------- public entry point


def extract_code(completion_text: str, input_code: str | None = None) -> Extraction:
    """The candidate script in `completion_text`. `input_code`, when given, helps spot an echoed input
    and elided parts (functions of the input the answer calls but no longer defines)."""
    result = extract_unchecked(completion_text, input_code)
    return check_elision(result, input_code) if result.code is not None else result


def extract_unchecked(completion_text: str, input_code: str | None = None) -> Extraction:
    """`extract_code` without the elision check: an answer that leaves parts out keeps its code and its kind
    (fenced, multiple_blocks, bare), so that benchmark.edits can merge it with the input."""
    text = clean_completion(completion_text)
    if not text.strip():
        return Extraction(code=None, kind=EMPTY, note="the completion is empty" +
                          (" after removing chat-template tokens" if (completion_text or "").strip() else ""))
    blocks = split_fences(text)
    return _from_blocks(blocks, input_code) if blocks else _from_bare(text)


def verdict_for(extraction: Extraction) -> Verdict | None:
    """The verdict a sample gets without execution when nothing runnable was extracted, else None."""
    if extraction.code is not None and extraction.kind not in NO_CODE_KINDS:
        return None
    return Verdict(status=Status.failed, category=FailureCategory.no_code, code=f"extract.{extraction.kind}",
                   reason=extraction.note or f"no runnable code ({extraction.kind})")


# ---------------------------------------------------------------- from fenced blocks


def _from_blocks(blocks: list[Block], input_code: str | None) -> Extraction:
    python = [b for b in blocks if b.code.strip() and _is_python_block(b)]
    others = [b.lang or "plain" for b in blocks if b not in python and b.code.strip()]
    ignored = f"; ignored {len(others)} non-Python block(s): {', '.join(others)}" if others else ""
    if not python:
        prose_code = _from_bare("\n".join(b.before for b in blocks))
        if prose_code.kind not in (NO_CODE, EMPTY):
            return prose_code
        return Extraction(code=None, kind=NO_CODE, note="no Python code block" + (
            f" (only {', '.join(others)})" if others else ""))
    if len(python) == 1:
        return _single(python[0], ignored)
    return _choose(python, input_code, ignored)


def _single(block: Block, ignored: str) -> Extraction:
    if not block.closed:
        return _truncated(block.code, ignored)
    note = ("" if block.lang else "bare ``` fence holding Python") + ignored
    return Extraction(code=block.code, kind=FENCED, note=note.lstrip("; "))


def _truncated(code: str, ignored: str = "", kind: str = FENCED) -> Extraction:
    error = compile_error(code)
    if error is None:  # runnable: keep it, with a runnable kind, and say the fence was never closed
        return Extraction(code=code, kind=kind, note="the code block is never closed (the output may have been "
                          "cut), but the code compiles, so it is kept" + ignored)
    return Extraction(code=None, kind=TRUNCATED, note=f"the output ends inside an unfinished code block "
                      f"({error.msg}, line {error.lineno}){ignored}")


def _choose(blocks: list[Block], input_code: str | None, ignored: str) -> Extraction:
    echo = [b for b in blocks if input_code and b.code.strip() == input_code.strip()]
    if echo and len(echo) < len(blocks):
        blocks = [b for b in blocks if b not in echo]
        ignored += "; dropped a block identical to the input"
        if len(blocks) == 1:
            return _single(blocks[0], ignored)
    closed = [b for b in blocks if b.closed]
    joined = _join_fragments(closed)
    if joined is not None:
        return Extraction(code=joined, kind=MULTIPLE, note=f"joined {len(closed)} fragments of one script" + ignored)
    compiling = [b for b in blocks if compile_error(b.code) is None]  # an unclosed last block may be whole
    if compiling:
        after_header = [b for b in compiling if re.search(r"modified code", b.before, re.IGNORECASE)]
        best = max(after_header or compiling, key=lambda b: len(b.code))
        why = "the block after 'Modified Code'" if after_header else "the longest block that compiles"
        return Extraction(code=best.code, kind=MULTIPLE, note=f"chose {why} of {len(blocks)}" + ignored)
    if not blocks[-1].closed:
        return _truncated(blocks[-1].code, ignored, kind=MULTIPLE)
    best = max(closed, key=lambda b: len(b.code))
    return Extraction(code=best.code, kind=MULTIPLE, note=f"no block of {len(blocks)} compiles; "
                      "chose the longest" + ignored)


def _join_fragments(blocks: list[Block]) -> str | None:
    """Blocks that are consecutive pieces of one script: each and all together compile, none redefines
    another's top-level names, and either the largest block needs names only the others define, or the first
    block only sets things up (no top-level calls) and every later block builds on the earlier ones."""
    if len(blocks) < 2 or any(compile_error(b.code) is not None for b in blocks):
        return None
    joined = "\n\n".join(b.code for b in blocks)
    if compile_error(joined) is not None:
        return None
    defined = [_top_level_names(b.code) for b in blocks]
    if any(defined[i] & defined[j] for i in range(len(blocks)) for j in range(i)):
        return None
    bound = [_bound_names(parse_python(b.code)) for b in blocks]
    free = [_used_names(b.code) - bound[k] - _BUILTINS for k, b in enumerate(blocks)]

    def needs(k: int, others: range | list[int]) -> bool:
        return bool(free[k] & set().union(*(bound[j] for j in others if j != k)))

    largest = max(range(len(blocks)), key=lambda k: len(blocks[k].code))
    if needs(largest, range(len(blocks))):
        return joined
    if not _has_top_level_calls(blocks[0].code) and all(needs(k, range(k)) for k in range(1, len(blocks))):
        return joined
    return None


def _has_top_level_calls(code: str) -> bool:
    return any(isinstance(n, (ast.If, ast.For, ast.While, ast.With)) or
               (isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)) for n in parse_python(code).body)


# ---------------------------------------------------------------- bare code


_CODE_START = re.compile(
    r"^(?:import \w|from [\w.]+ import |def \w|async def \w|class \w|@\w|if __name__|with \w|for \w.* in |"
    r"#!|[A-Za-z_][\w.]*(?:\[[^\]]*\])?\s*(?:=|\+=|-=|\()|[A-Za-z_]\w*\s*,\s*[A-Za-z_]\w*\s*=)"
)
MAX_START_TRIES = 30
MAX_CUTS = 40


def _from_bare(text: str) -> Extraction:
    lines = [line.rstrip() for line in text.split("\n")]
    starts = [i for i, line in enumerate(lines) if _CODE_START.match(line)][:MAX_START_TRIES]
    cut = _cut_mid_statement(lines, starts[0]) if starts else None
    if cut is not None:
        return Extraction(code=None, kind=TRUNCATED, note=f"the code stops mid-statement ({cut.msg})")
    best: tuple[int, int] | None = None
    for start in starts:
        if best and start < best[1]:
            continue  # inside a span already found
        span = _compiling_span(lines, start)
        if span and (best is None or span[1] - span[0] > best[1] - best[0]):
            best = span
    if best is None:
        return _bare_failure(lines, starts)
    code = "\n".join(lines[best[0]:best[1]]).strip("\n")
    dropped = len([line for line in lines[:best[0]] + lines[best[1]:] if line.strip()])
    return Extraction(code=code, kind=BARE, note="no code fences" + (f"; dropped {dropped} line(s) of prose"
                                                                       if dropped else ""))


def _compiling_span(lines: list[str], start: int) -> tuple[int, int] | None:
    """The longest [start, end) that compiles and looks like Python, cutting at the reported error line."""
    end = len(lines)
    for _ in range(MAX_CUTS):
        while end > start and not lines[end - 1].strip():
            end -= 1
        if end <= start:
            return None
        code = "\n".join(lines[start:end])
        error = compile_error(code)
        if error is None:
            return (start, end) if looks_like_python(code) else None
        cut = start + (error.lineno or 1) - 1
        if cut <= start or cut >= end:
            end -= 1  # the error is on the first or a past-the-end line: shrink from the end
        else:
            end = cut
    return None


def _bare_failure(lines: list[str], starts: list[int]) -> Extraction:
    if not starts:
        return Extraction(code=None, kind=NO_CODE, note="the completion holds prose only, no Python code")
    error = compile_error("\n".join(lines[starts[0]:]))
    return Extraction(code=None, kind=NO_CODE, note="text looks partly like code but no part of it compiles"
                      + (f" ({error.msg}, line {error.lineno})" if error else ""))


_CUT_MESSAGES = ("never closed", "unexpected eof", "expected an indented block", "unterminated", "incomplete input")
_DANGLING = re.compile(r"(?:[-+*/%=<>&|^,(\[{\\]|\band|\bor|\bnot|\bin)\s*$")  # not "." or ":": prose ends so


def _cut_mid_statement(lines: list[str], start: int) -> SyntaxError | None:
    """The compile error when the code from `start` to the end stops in the middle of a statement."""
    body = [line for line in lines[start:]]
    while body and not body[-1].strip():
        body.pop()
    error = compile_error("\n".join(body))
    if error is None or (error.lineno or 0) < len(body) - 1:
        return None
    message = (error.msg or "").lower()
    if any(m in message for m in _CUT_MESSAGES) or _DANGLING.search(body[-1]):
        return error
    return None


# ---------------------------------------------------------------- elision


_ELISION = re.compile(
    r"\b(?:rest|remainder)\s+of\s+(?:the\s+|your\s+|this\s+|my\s+)?(?:original\s+|existing\s+)?"
    r"(?:code|script|file|functions?|class(?:es)?|methods?|loop|training|implementation|program|imports?"
    r"|definitions?|body|setup|logic)\b|\bremaining\s+(?:code|parts?|lines?|functions?|steps?)\b"
    r"|\bsame\s+as\s+(?:before|above|the\s+original|original|in\s+the\s+original)\b|\bas\s+before\b"
    r"|\bfor\s+brevity\b|\bomitted\b|\bnot\s+shown\b|\b(?:code|implementation|logic)\s+(?:goes|continues)\s+here\b"
    r"|\byour\s+(?:existing\s+)?(?:code|training\s+(?:loop|code)|model\s+code)\s+here\b|\bexisting\s+code\b"
    r"|\bprevious\s+code\b|\bremains?\s+(?:the\s+same|unchanged)\b|\b(?:is|are|stays?|left)\s+unchanged\b"
    r"|\bunchanged\s+(?:code|part|section)s?\b|^\s*\(?unchanged\)?\s*$|\bno\s+changes?\s+(?:here|below|above|needed)\b",
    re.IGNORECASE,
)
_ELLIPSIS_LINE = re.compile(r"^\s*(?:\.\.\.|…)\s*$")
_ELLIPSIS_COMMENT = re.compile(r"^#+\s*(?:\.\.\.|…)")  # "# ...", "# ... training as before"


def check_elision(result: Extraction, input_code: str | None) -> Extraction:
    """`result` unchanged, or kind elided (code None) when its code leaves parts out."""
    code = result.code or ""
    lines = code.splitlines()
    markers = [f"line {n}: {lines[n - 1].strip()!r}" for n in elision_lines(code, input_code)]
    missing = _missing_definitions(code, input_code)
    if not markers and not missing:
        return result
    parts = []
    if markers:
        parts.append("placeholder(s) instead of code: " + "; ".join(markers[:3]) + (" ..." if len(markers) > 3 else ""))
    if missing:
        parts.append("calls names only the input defines: " + ", ".join(sorted(missing)))
    return Extraction(code=None, kind=ELIDED, note=f"the answer leaves parts out ({' | '.join(parts)}); "
                      f"extracted as {result.kind}")


def elision_lines(code: str, input_code: str | None = None) -> list[int]:
    """1-based numbers of the lines holding a bare `...` statement or a comment that stands in for omitted code;
    a line that the input also holds (the same text, stripped) is the input's own, not a placeholder."""
    original = {line.strip() for line in (input_code or "").splitlines()}
    lines = code.splitlines()
    hits = {n for n, line in enumerate(lines, 1) if _ELLIPSIS_LINE.match(line)}
    for n, comment in _comments(code):
        body = comment.lstrip("#").strip()
        if _ELLIPSIS_COMMENT.match(comment) or _ELISION.search(body):
            hits.add(n)
    return sorted(n for n in hits if n <= len(lines) and lines[n - 1].strip() not in original)


def _comments(code: str) -> list[tuple[int, str]]:
    """(line number, comment text) pairs; tokenize when possible, a plain scan when the code is broken."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(code).readline))
        return [(t.start[0], t.string) for t in tokens if t.type == tokenize.COMMENT]
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return [(n, line[line.index("#"):]) for n, line in enumerate(code.splitlines(), 1)
                if "#" in line and line.lstrip().startswith("#")]


def _missing_definitions(code: str, input_code: str | None) -> set[str]:
    """Names the answer uses but never defines or imports, while the input defines them at top level."""
    if not input_code or compile_error(code) is not None or compile_error(input_code) is not None:
        return set()
    needed = _top_level_names(input_code, definitions_only=True)
    if not needed:
        return set()
    tree = parse_python(code)
    bound = _bound_names(tree)
    if "*" in bound:  # a star import may provide anything
        return set()
    return (_used_names(code) - bound - _BUILTINS) & needed


def _top_level_names(code: str, definitions_only: bool = False) -> set[str]:
    names: set[str] = set()
    for node in parse_python(code).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif not definitions_only and isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def _used_names(code: str) -> set[str]:
    return {n.id for n in ast.walk(parse_python(code)) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _bound_names(tree: ast.AST) -> set[str]:
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    if any(isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names) for n in ast.walk(tree)):
        bound.add("*")
    return bound
