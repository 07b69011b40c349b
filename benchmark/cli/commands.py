"""Subcommands of the CLI. Each `add_*` registers a parser; each `cmd_*` does the work and returns an exit code."""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
from collections import Counter
from pathlib import Path

from ..errors import AdaptbenchError

log = logging.getLogger("adaptbench")
REGISTRARS = []


def registrar(fn):
    REGISTRARS.append(fn)
    return fn


def _tasks(args, ids=None):
    from ..tasks import load_tasks

    return load_tasks(ids or None, tasks_dir=args.tasks_dir)


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _floats(value: str) -> list[float]:
    try:
        return [float(v) for v in _csv(value)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got '{value}'") from None


# ------------------------------------------------------------------ list / show
@registrar
def add_list(sub):
    p = sub.add_parser("list", help="list the tasks with counts per category, functionality, component, framework")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_list)


def cmd_list(args) -> int:
    tasks = _tasks(args)
    if args.json:
        print(json.dumps([t.model_dump(mode="json", exclude={"folder"}) for t in tasks], indent=2, default=str))
        return 0
    print(f"{'task':44} {'functionality':28} {'component':18} {'framework':10} lines")
    for t in tasks:
        comp = f"{t.source_component.value}->{t.component.value}" if t.source_component else t.component.value
        print(f"{t.id:44} {t.functionality.value:28} {comp:18} {t.framework.value:10} {_lines(t.input_path)}")
    print(f"\n{len(tasks)} tasks")
    for axis in ("category", "functionality", "component", "framework"):
        counts = Counter(getattr(t, axis).value for t in tasks)
        print(f"  {axis:14} " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    examples = sorted({t.input_path for t in tasks})
    lengths = sorted(_lines(p) for p in examples)
    if lengths:
        print(f"  {len(examples)} input scripts; lines min {lengths[0]}, median {statistics.median(lengths):.0f}, "
              f"max {lengths[-1]}")
    return 0


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines())


@registrar
def add_show(sub):
    p = sub.add_parser("show", help="show one task: spec, files, checks and a rendered prompt")
    p.add_argument("task")
    p.add_argument("--prompt", choices=["zero-shot", "docprompt"], help="also print the rendered prompt")
    p.set_defaults(func=cmd_show)


def cmd_show(args) -> int:
    task = _tasks(args, [args.task])[0]
    for field in ("id", "version", "title", "category", "functionality", "component", "source_component", "framework",
                  "input_path", "reference_path", "entrypoint", "fixtures", "git_init", "input_fails_with"):
        value = getattr(task, field)
        print(f"{field:18} {getattr(value, 'value', value)}")
    print(f"{'limits':18} {task.limits.model_dump()}")
    for check in task.checks:
        print(f"{'check':18} {check.name} {check.args or ''}")
    if task.instruction:
        print(f"\ninstruction:\n  {task.instruction}")
    if args.prompt:
        from ..prompts import render_prompt
        from ..types import Setting

        prompt = render_prompt(task, Setting(args.prompt))
        for message in prompt.messages:
            print(f"\n--- {message['role']} ---\n{message['content']}")
    return 0


@registrar
def add_models(sub):
    p = sub.add_parser("models", help="the embedded models: what they are, where the weights come from, if they are ready")
    p.add_argument("--prepare", metavar="NAME", help="assemble (and check) an embedded model's weights now")
    p.set_defaults(func=cmd_models)


def cmd_models(args) -> int:
    from ..backends.embedded import EMBEDDED_MODELS, embedded_model
    from ..backends.llamacpp import find_server_binary

    if args.prepare:
        entry = embedded_model(args.prepare)
        print(f"embedded/{entry.name}: {entry.gguf()}")
        return 0
    for entry in EMBEDDED_MODELS.values():
        print(f"embedded/{entry.name}  [{entry.default_engine}]\n  {entry.description}\n  {entry.status()}")
    try:
        print(f"\nllama-server: {find_server_binary()}")
    except AdaptbenchError as exc:
        print(f"\nllama-server: {exc.message} ({exc.hint})")
    return 0


# ------------------------------------------------------------------ grading
def _print_verdict(task_id: str, verdict, execution) -> None:
    print(f"{task_id}: {verdict.status.value.upper()} [{verdict.code}] {verdict.reason}")
    for check in verdict.checks:
        print(f"  {'ok  ' if check.passed else 'FAIL'} {check.name}: {check.reason}")
    if execution is not None:
        print(f"  ran {execution.duration_s:.1f} s under '{execution.isolation}' isolation in {execution.workdir}")


@registrar
def add_check(sub):
    p = sub.add_parser("check", help="run any script as a task's candidate and print the verdict")
    p.add_argument("task")
    p.add_argument("script", type=Path)
    p.add_argument("--workdir", type=Path, help="where to run (default: a new folder under runs/check/)")
    p.set_defaults(func=cmd_check)


def cmd_check(args) -> int:
    from sandbox.grading import grade

    task = _tasks(args, [args.task])[0]
    if not args.script.is_file():
        raise AdaptbenchError(f"script '{args.script}' not found")
    workdir = args.workdir or _fresh_dir(Path("runs") / "check" / task.id)
    graded = grade(task, args.script.read_text(), workdir)
    _print_verdict(task.id, graded.verdict, graded.execution)
    return 0 if graded.verdict.passed else 1


def _fresh_dir(base: Path) -> Path:
    from datetime import datetime

    path = base / datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.resolve()


@registrar
def add_evaluate(sub):
    p = sub.add_parser("evaluate", help="grade a JSONL file of {task_id, code} (or {task_id, completion}) lines")
    p.add_argument("predictions", type=Path)
    p.add_argument("--out", type=Path, help="results JSONL (default: <predictions>.results.jsonl)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args) -> int:
    from ..external import evaluate_predictions

    out = args.out or args.predictions.with_suffix(".results.jsonl")
    results = evaluate_predictions(args.predictions, out, tasks_dir=args.tasks_dir, workers=args.workers)
    passed = sum(1 for r in results if r["verdict"]["status"] == "pass")
    for r in results:
        print(f"{r['task_id']}: {r['verdict']['status'].upper()} [{r['verdict']['code']}] {r['verdict']['reason'][:160]}")
    print(f"\n{passed}/{len(results)} passed; results in {out}")
    return 0


@registrar
def add_validate(sub):
    p = sub.add_parser("validate", help="prove every task: the reference passes, the untouched input fails as expected")
    p.add_argument("tasks", nargs="*")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    p.add_argument("--keep", type=Path, help="keep the work dirs (in a new subfolder of this folder)")
    p.add_argument("--timeout-scale", type=float, default=1.0, help="multiply every task's time limit")
    p.set_defaults(func=cmd_validate)


def cmd_validate(args) -> int:
    from ..validation import validate_tasks

    tasks = _tasks(args, args.tasks)
    print(f"validating {len(tasks)} tasks with {args.workers} workers")

    def show(v):
        timing = f"ref {v.reference_seconds or 0:.1f}s, input {v.input_seconds or 0:.1f}s"
        print(f"{'ok  ' if v.ok else 'FAIL'} {v.task.id:44} input -> {v.input.code:28} ({timing})", flush=True)
        for problem in v.problems:
            print(f"     {problem}")

    results = validate_tasks(tasks, workers=args.workers, keep=args.keep, on_result=show,
                             timeout_scale=args.timeout_scale)
    bad = [v for v in results if not v.ok]
    print(f"\n{len(results) - len(bad)}/{len(results)} tasks valid")
    return 1 if bad else 0


# ------------------------------------------------------------------ runs
def _add_run_options(p) -> None:
    p.add_argument("-n", type=int, default=None, help="samples per cell (default 3)")
    p.add_argument("-M", "--option", action="append", default=[], metavar="KEY=VALUE", help="model option, repeatable")
    p.add_argument("--max-tokens", type=int, default=None, help="completion token limit")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--runs-dir", type=Path, default=Path("runs"))
    p.add_argument("--run-id", help="run folder name (default: derived from the matrix, so a rerun resumes)")
    p.add_argument("--workers", type=int, default=None, help="parallel sandboxes (default: one per core)")
    p.add_argument("--cache-dir", type=Path, help="generation/execution cache (default ~/.cache/adaptbench)")
    p.add_argument("--no-cache", action="store_true", help="ignore the shared cache (the run keeps its own)")
    p.add_argument("--timeout-scale", type=float, default=1.0, help="multiply every task's time limit")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="where executions run: sandboxes on this machine (default) or a Ray cluster's nodes")
    p.add_argument("--ray-address", default=None, metavar="auto|ray://HOST:PORT",
                   help="with --executor ray: the cluster to join (default: start Ray on this machine)")
    _add_loop_options(p)


def _add_loop_options(p) -> None:
    g = p.add_argument_group("adaptation loop")
    g.add_argument("--rounds", type=int, default=None, help="attempts per model: 1 is one-shot; more are repair rounds "
                   "that see the failed attempt and feedback (default 1)")
    g.add_argument("--feedback", choices=["none", "output", "verdict"], default="verdict",
                   help="what a repair round is shown: nothing, the script's output, or output + verdict (default)")
    g.add_argument("--edit-format", default="whole", help="whole (default), search-replace or udiff")
    g.add_argument("--merge-elided", action=argparse.BooleanOptionalAction, default=True,
                   help="merge whole-file answers that elide unchanged parts with the input, where unambiguous (default on)")
    g.add_argument("--cascade-feedback", action=argparse.BooleanOptionalAction, default=True,
                   help="a cascade's next model sees the last failed attempt and its feedback (default on)")
    g.add_argument("--max-sample-cost", type=float, default=None, metavar="USD", help="stop a sample's attempts here")
    g.add_argument("--max-run-cost", type=float, default=None, metavar="USD",
                   help="stop the run here; rerun with a higher budget to continue")
    g.add_argument("--usd-per-hour", type=float, default=None, metavar="USD",
                   help="price of local generation time for the cost columns (default 0.10)")


def loop_and_budget(args):
    """The LoopSpec and Budget the loop options ask for, validated."""
    from ..edits import get_edit_format
    from ..errors import BadOptionError
    from ..types import Budget, LoopSpec

    args.rounds = 1 if args.rounds is None else args.rounds
    if args.rounds < 1:
        raise BadOptionError(f"--rounds must be at least 1, got {args.rounds}")
    get_edit_format(args.edit_format)  # an unknown format fails here, before any model call
    loop = LoopSpec(rounds=args.rounds, feedback=args.feedback, edit_format=args.edit_format,
                    merge_elided=args.merge_elided, cascade_feedback=args.cascade_feedback)
    budget = Budget(max_sample_cost=args.max_sample_cost, max_run_cost=args.max_run_cost,
                    **({"compute_usd_per_hour": args.usd_per_hour} if args.usd_per_hour is not None else {}))
    return loop, budget


@registrar
def add_run(sub):
    p = sub.add_parser("run", help="run one task on one model")
    p.add_argument("--task", required=True)
    p.add_argument("--model", default=None, help="model or cascade 'a>b' (default: embedded/qwen2.5-coder-1.5b)")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--setting", default="zero-shot", choices=["zero-shot", "docprompt"])
    p.add_argument("--retrieval", default="none")
    _add_run_options(p)
    p.set_defaults(func=cmd_run)


def cmd_run(args) -> int:
    from ..matrix import DEFAULT_MODEL

    tasks = _tasks(args, [args.task])
    return _execute_matrix(args, tasks, [args.model or DEFAULT_MODEL], [args.temperature], [args.setting],
                           [args.retrieval], "single")


@registrar
def add_benchmark(sub):
    p = sub.add_parser("benchmark", help="run the matrix: tasks x models x temperatures x settings x n")
    p.add_argument("--tasks", type=_csv, default=None, help="task ids or globs, comma-separated")
    p.add_argument("--models", type=_csv, default=None,
                   help="comma-separated models; 'a>b' is a cascade that escalates to b when a fails "
                        "(default: embedded/qwen2.5-coder-1.5b)")
    p.add_argument("--temperatures", type=_floats, default=None, help="default 0,0.2,1")
    p.add_argument("--settings", type=_csv, default=None, help="zero-shot,docprompt (default both)")
    p.add_argument("--retrievals", type=_csv, default=["none"], help="retrieval strategies for Translation tasks")
    p.add_argument("--profile", choices=sorted(PROFILE_NAMES), default="study",
                   help="cpu: a few short rows sized for a 2-core CPU (make benchmark); quick: one task per table row; "
                        "study (= full): every task. A profile also sets defaults that any explicit option overrides")
    _add_run_options(p)
    p.set_defaults(func=cmd_benchmark)


PROFILE_NAMES = ("cpu", "quick", "study", "full")


def cmd_benchmark(args) -> int:
    from ..matrix import DEFAULT_MODEL, DEFAULT_SETTINGS, DEFAULT_TEMPERATURES, PROFILES

    profile = PROFILES[args.profile]
    apply_profile_defaults(args, profile.defaults)
    tasks = _tasks(args, args.tasks)
    if not args.tasks:
        tasks = profile.select(tasks)
    settings = args.settings or [s.value for s in DEFAULT_SETTINGS]
    return _execute_matrix(args, tasks, args.models or [DEFAULT_MODEL], args.temperatures or list(DEFAULT_TEMPERATURES),
                           settings, args.retrievals, args.profile)


def apply_profile_defaults(args, defaults: dict) -> None:
    """A profile's settings fill the options the user did not give."""
    for name, value in defaults.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)


def _execute_matrix(args, tasks, models, temperatures, settings, retrievals, prefix) -> int:
    from ..cache import Cache
    from ..matrix import make_spec, parse_model_options, parse_settings
    from ..runner import Runner, chain_members
    from ..types import GenerationConfig, RuntimeConfig

    options = parse_model_options(args.option)
    _check_retrievals(retrievals)
    args.n = 3 if args.n is None else args.n
    args.workers = args.workers or os.cpu_count() or 2
    loop, budget = loop_and_budget(args)
    generation = GenerationConfig(max_tokens=args.max_tokens or GenerationConfig().max_tokens, seed=args.seed)
    members = chain_members(models)
    spec = make_spec(tasks, models, temperatures, parse_settings(settings), args.n, retrievals,
                     {m: options for m in members} if options else {}, generation, args.run_id, prefix, loop, budget)
    run_dir = (args.runs_dir / spec.run_id).resolve()
    cache = Cache(run_dir / "cache" if args.no_cache else args.cache_dir)
    runtime = RuntimeConfig(workers=args.workers, timeout_scale=args.timeout_scale,
                            progress=not args.no_progress and sys.stderr.isatty(),
                            executor=args.executor, ray_address=args.ray_address)
    runner = Runner(spec, tasks, run_dir, cache, runtime)
    from ..estimate import estimate

    log.info("%s", estimate(spec, tasks).describe())
    log.info("run %s: %d tasks x %d models x %d temperatures x %d settings x n=%d -> %s", spec.run_id, len(tasks),
             len(models), len(temperatures), len(settings), args.n, run_dir)
    records = runner.run()
    _print_summary(records, spec, runner.stats, run_dir)
    return 0


def _check_retrievals(retrievals) -> None:
    if any(r != "none" for r in retrievals):
        from retrieval import check_retrieval

        for name in retrievals:
            check_retrieval(name)  # an unknown strategy or option fails here, before any model call


def _print_summary(records, spec, stats, run_dir) -> None:
    from reports import failure_digest, render_summary_markdown

    print(render_summary_markdown(records, spec.k, spec))
    print(f"\n{failure_digest(records)}")
    print(f"\n{len(records)} samples in {run_dir / 'samples.jsonl'}; this invocation: {stats['generated']} generated, "
          f"{stats['cached_generations']} from cache, "
          f"{stats['executed']} executed, {stats['cached_executions']} executions from cache")
    print(f"full report: adaptbench report {run_dir}")


# ------------------------------------------------------------------ reports
@registrar
def add_report(sub):
    p = sub.add_parser("report", help="write tables (md, tex, csv, json), plots, HTML for a run")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--format", type=_csv, default=["md", "tex", "csv", "json", "html", "png"])
    p.add_argument("--ci", action="store_true", help="bootstrap confidence intervals")
    p.add_argument("--mlflow", nargs="?", const="", default=None, metavar="TRACKING_URI",
                   help="also log the run to MLflow (default store under the runs folder)")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    import reports

    if not (args.run_dir / "run.json").exists():
        raise AdaptbenchError(f"{args.run_dir} is not a run folder (no run.json)", "pass a folder under runs/")
    paths = reports.write_report(args.run_dir, formats=tuple(args.format), ci=args.ci)
    for path in paths:
        print(path)
    if args.mlflow is not None:
        run_id = reports.log_to_mlflow(args.run_dir, tracking_uri=args.mlflow or None)
        print(f"logged to MLflow as run {run_id}")
    return 0


@registrar
def add_compare(sub):
    p = sub.add_parser("compare", help="cell-by-cell differences between two runs, with a paired test")
    p.add_argument("run_a", type=Path)
    p.add_argument("run_b", type=Path)
    p.add_argument("--across", type=_csv, default=[], metavar="AXES",
                   help="pair cells across these axes, e.g. rounds: a repair loop against one-shot")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args) -> int:
    import reports

    comparison = reports.compare_runs(args.run_a, args.run_b, across=tuple(args.across))
    print(reports.render_comparison_markdown(comparison))
    return 0
from . import adapt, retrieval  # noqa: F401  (registers the adapt, task and retrieval subcommands)
