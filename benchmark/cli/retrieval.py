"""CLI subcommands of the retrieval stage: `corpus build|search`, `retrieve`, `retrieval-eval`."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from .commands import _csv, _tasks, registrar


def _add_model(p) -> None:
    p.add_argument("--model", default=None, help="LLM of the LLM strategies / the summariser (default: embedded)")


# ------------------------------------------------------------------ corpus
@registrar
def add_corpus(sub):
    p = sub.add_parser("corpus", help="build or search a component's documentation corpus")
    actions = p.add_subparsers(metavar="ACTION", required=True)
    build = actions.add_parser("build", help="crawl, chunk, (summarise,) embed and index a component's docs")
    build.add_argument("component", help="gitpython, dvc, mlflow, wandb, optuna, nncf, torch_prune")
    build.add_argument("--source", choices=["installed", "web"], default=None,
                       help="installed: the installed package's own docs, offline (default); web: the study's site")
    build.add_argument("--depth", type=int, default=None, help="crawl depth (default: the definition's)")
    build.add_argument("--fetcher", choices=["selenium", "http"], default=None, help="default: selenium")
    build.add_argument("--max-pages", type=int, default=None)
    build.add_argument("--summarise", action="store_true",
                       help="replace each chunk by an LLM summary (slow; kept beside the plain corpus)")
    build.add_argument("--embedder", default="minilm", help="minilm (default), hashing, or openai[:model]")
    build.add_argument("--chunker", choices=["entries", "characters"], default="entries",
                       help="entries: one chunk per API entry (default); characters: fixed-size windows")
    build.add_argument("--chunk-size", type=int, default=None, help="most characters of a chunk (default 2000)")
    _add_model(build)
    build.set_defaults(func=cmd_corpus_build)
    search = actions.add_parser("search", help="top-k chunks of a component's corpus for a query")
    search.add_argument("component")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=3)
    search.add_argument("--method", choices=["dense", "lexical", "hybrid"], default="dense",
                        help="dense: the embedder (default); lexical: BM25; hybrid: both, fused")
    search.add_argument("--summarised", action="store_true", help="search the summarised corpus (--model)")
    search.add_argument("--json", action="store_true")
    _add_model(search)
    search.set_defaults(func=cmd_corpus_search)


def cmd_corpus_build(args) -> int:
    from retrieval import BuildOptions, build_corpus

    started = time.perf_counter()
    sizes = {"chunk_size": args.chunk_size} if args.chunk_size else {}
    corpus = build_corpus(args.component, BuildOptions(
        source=args.source, depth=args.depth, fetcher=args.fetcher, max_pages=args.max_pages,
        summarise=args.summarise, model=args.model, embedder=args.embedder, chunker=args.chunker, **sizes))
    m = corpus.manifest
    print(f"{args.component}: {m['pages']} pages, {m['chunks']} chunks from {m['source']} "
          f"({m['package']} {m['package_version']}, depth {m['depth']}, {m.get('fetcher')}) "
          f"in {time.perf_counter() - started:.1f} s -> {corpus.folder}")
    return 0


def cmd_corpus_search(args) -> int:
    from retrieval import BuildOptions, get_corpus

    corpus = get_corpus(args.component, BuildOptions(summarise=args.summarised, model=args.model))
    docs = corpus.search(args.query, args.k, args.method)
    if args.json:
        print(json.dumps(docs, indent=2))
        return 0
    for i, doc in enumerate(docs, 1):
        _print_doc(i, doc)
    return 0


def _print_doc(i: int, doc: dict, width: int = 400) -> None:
    score = "" if doc.get("score") is None else f" [{doc['score']:.3f}]"
    text = doc["text"] if len(doc["text"]) <= width else doc["text"][:width] + " …"
    print(f"{i}.{score} {doc['title']}  <{doc['source']}>\n   " + text.replace("\n", "\n   ") + "\n")


# ------------------------------------------------------------------ retrieve
@registrar
def add_retrieve(sub):
    p = sub.add_parser("retrieve", help="show the Docs-X and Docs-Y a strategy retrieves for a Translation task")
    p.add_argument("--task", required=True)
    p.add_argument("--strategy", required=True,
                   help="none, docs-search, llm-search, llm-docs-search, oracle-docs; options joined with '+' "
                        "(docs-search+hybrid+focus): " + ", ".join(_option_names()))
    p.add_argument("-k", type=int, default=3)
    p.add_argument("--json", action="store_true")
    _add_model(p)
    p.set_defaults(func=cmd_retrieve)


def cmd_retrieve(args) -> int:
    from retrieval import parse_retrieval, retrieve_for_task

    parse_retrieval(args.strategy)  # an unknown name fails before any corpus is built
    task = _tasks(args, [args.task])[0]
    docs_x, docs_y = retrieve_for_task(task, args.strategy, k=args.k, model=args.model)
    if args.json:
        print(json.dumps({"docs_source": docs_x, "docs_target": docs_y}, indent=2))
        return 0
    for label, docs in (("Docs-X", docs_x), ("Docs-Y", docs_y)):
        print(f"== {label} ({len(docs)})")
        for i, doc in enumerate(docs, 1):
            _print_doc(i, doc)
    return 0


# ------------------------------------------------------------------ retrieval-eval
STUDY_STRATEGIES = ["docs-search", "llm-search", "llm-docs-search"]
DEFAULT_OPTIONS = ["hybrid", "focus", "overview", "hybrid+overview", "focus+hybrid+overview"]


OPTION_NAMES = ["hybrid", "focus", "rewrite", "rerank", "overview", "summarised"]  # retrieval.OPTIONS, without importing it


def _option_names() -> list[str]:
    return OPTION_NAMES


@registrar
def add_retrieval_eval(sub):
    p = sub.add_parser("retrieval-eval", help="coverage@k of the target API symbols per retrieval and Translation task")
    p.add_argument("--tasks", type=_csv, default=None, help="task ids or globs (default: every Translation task)")
    p.add_argument("--strategies", type=_csv, default=[*STUDY_STRATEGIES, "oracle-docs"],
                   help="strategies, or retrievals with options (docs-search+hybrid); default: the study's three "
                        "and oracle-docs")
    p.add_argument("--options", type=_csv, default=DEFAULT_OPTIONS,
                   help="option sets measured on top of the strategies of --options-for, e.g. hybrid,focus+hybrid "
                        f"(default: {','.join(DEFAULT_OPTIONS)}; '' for none); options: " + ", ".join(_option_names()))
    p.add_argument("--options-for", type=_csv, default=["docs-search"],
                   help="the strategies the option sets are added to (default: docs-search, which needs no LLM; "
                        "name llm-docs-search too to measure the options with the LLM)")
    p.add_argument("-k", type=_ints, default=[1, 3, 5], help="comma-separated k values (default 1,3,5)")
    p.add_argument("--out", type=Path, default=Path("runs/retrieval-eval.md"),
                   help="the summary table (markdown) to write; the rows go beside it as .json")
    p.add_argument("--json", action="store_true", help="print the rows as JSON instead of tables")
    _add_model(p)
    p.set_defaults(func=cmd_retrieval_eval)


def _ints(value: str) -> list[int]:
    try:
        return sorted({int(v) for v in _csv(value)})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got '{value}'") from None


def _retrievals(strategies: list[str], options: list[str], options_for: list[str]) -> list[str]:
    """The strategies as listed, then each strategy of `options_for` with each option set."""
    from retrieval import parse_retrieval

    out = [parse_retrieval(name).name for name in strategies]
    for name in options_for:
        if parse_retrieval(name).strategy not in ("none", "oracle-docs"):
            out += [parse_retrieval(f"{name}+{option}").name for option in options]
    return list(dict.fromkeys(out))


def cmd_retrieval_eval(args) -> int:
    from retrieval import eval_markdown, retrieval_eval, summarise_eval

    retrievals = _retrievals(args.strategies, args.options, args.options_for)
    started = time.perf_counter()
    rows = retrieval_eval(_tasks(args, args.tasks), retrievals, ks=args.k, model=args.model)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    summary = summarise_eval(rows)
    _print_rows(rows, 3 if 3 in args.k else args.k[len(args.k) // 2])
    table = eval_markdown(summary, _facts(args, rows, time.perf_counter() - started))
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table)
    args.out.with_suffix(".json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=2) + "\n")
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")
    return 0


def _print_rows(rows: list[dict], k: int) -> None:
    print(f"{'task':38} {'retrieval':32} {'cov@' + str(k):>6} {'Docs-X':>6}  missing")
    for r in (r for r in rows if r["k"] == k):
        print(f"{r['task']:38} {r['retrieval']:32} {_pct(r['coverage']):>6} {_pct(r['source_coverage']):>6}  "
              f"{', '.join(r['missing']) or '-'}")
    print()


def _facts(args, rows: list[dict], seconds: float) -> dict:
    from retrieval import OPTIONS, corpus_dir, load_corpus, parse_retrieval

    components = sorted({p.name.split("@")[0] for p in corpus_dir("").glob("*") if p.is_dir()})
    corpora = []
    for name in components:
        corpus = load_corpus(name)
        if corpus is not None:
            m = corpus.manifest
            corpora.append(f"{name} ({m.get('package')} {m.get('package_version')}, {m.get('chunks')} chunks, "
                           f"{m.get('chunker', 'characters')} chunker, {m.get('embedder')})")
    used = sorted({o for r in rows for o in parse_retrieval(r["retrieval"]).options})
    llm = args.model or "embedded"
    return {"tasks": len({r["task"] for r in rows}), "LLM of the LLM strategies and options": llm,
            "corpora": "; ".join(corpora) or "n/a",
            **{f"option {o}": OPTIONS[o] for o in used},
            "coverage@k": "share of the target symbols the reference uses that the k Docs-Y documents mention",
            "recall@k": "share of the target symbols whose own entry (heading or usage line) is among them",
            "first relevant": "mean position of the first Docs-Y document mentioning a target symbol (none: k+1)",
            "measured in": f"{seconds:.0f} s"}


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"
