"""CLI subcommands of the retrieval stage: `corpus build|search`, `retrieve`, `retrieval-eval`."""

from __future__ import annotations

import json
import time

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
    build.add_argument("--summarise", action="store_true", help="replace each chunk by an LLM summary (slow)")
    build.add_argument("--embedder", default="minilm", help="minilm (default) or openai[:model]")
    _add_model(build)
    build.set_defaults(func=cmd_corpus_build)
    search = actions.add_parser("search", help="top-k chunks of a component's corpus for a query")
    search.add_argument("component")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=3)
    search.add_argument("--json", action="store_true")
    search.set_defaults(func=cmd_corpus_search)


def cmd_corpus_build(args) -> int:
    from retrieval import BuildOptions, build_corpus

    started = time.perf_counter()
    corpus = build_corpus(args.component, BuildOptions(
        source=args.source, depth=args.depth, fetcher=args.fetcher, max_pages=args.max_pages,
        summarise=args.summarise, model=args.model, embedder=args.embedder))
    m = corpus.manifest
    print(f"{args.component}: {m['pages']} pages, {m['chunks']} chunks from {m['source']} "
          f"({m['package']} {m['package_version']}, depth {m['depth']}, {m.get('fetcher')}) "
          f"in {time.perf_counter() - started:.1f} s -> {corpus.folder}")
    return 0


def cmd_corpus_search(args) -> int:
    from retrieval import get_corpus

    docs = get_corpus(args.component).search(args.query, args.k)
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
    p.add_argument("--strategy", required=True, help="none, docs-search, llm-search, llm-docs-search, oracle-docs")
    p.add_argument("-k", type=int, default=3)
    p.add_argument("--json", action="store_true")
    _add_model(p)
    p.set_defaults(func=cmd_retrieve)


def cmd_retrieve(args) -> int:
    from retrieval import STRATEGIES, retrieve_for_task

    STRATEGIES.get(args.strategy)  # an unknown name fails before any corpus is built
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
@registrar
def add_retrieval_eval(sub):
    p = sub.add_parser("retrieval-eval", help="coverage@k of the target API symbols per strategy and Translation task")
    p.add_argument("--tasks", type=_csv, default=None, help="task ids or globs (default: every Translation task)")
    p.add_argument("--strategies", type=_csv, default=["docs-search", "llm-search", "llm-docs-search", "oracle-docs"])
    p.add_argument("-k", type=int, default=3)
    p.add_argument("--json", action="store_true")
    _add_model(p)
    p.set_defaults(func=cmd_retrieval_eval)


def cmd_retrieval_eval(args) -> int:
    from retrieval import STRATEGIES, mean_coverage, retrieval_eval

    for name in args.strategies:
        STRATEGIES.get(name)
    rows = retrieval_eval(_tasks(args, args.tasks), args.strategies, k=args.k, model=args.model)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'task':40} {'strategy':16} {'coverage@' + str(args.k):>11} {'Docs-X cov':>10}  missing")
    for r in rows:
        print(f"{r['task']:40} {r['strategy']:16} {_pct(r['coverage']):>11} {_pct(r['source_coverage']):>10}  "
              f"{', '.join(r['missing']) or '-'}")
    print()
    for name, value in mean_coverage(rows).items():
        print(f"mean coverage@{args.k} {name:16} {_pct(value)}")
    return 0


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"
