"""`adaptbench adapt` (a verified adaptation of the user's own script) and `adaptbench task new` (any script as a
task). Progress goes to stderr as it happens; the verdict, the evidence and what was written go to stdout.
Exit codes of adapt: 0 verified, 1 not verified (the best failing attempt is kept), 3 the script already has the
capability (nothing written), 2 bad input."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .commands import _add_loop_options, loop_and_budget, registrar

ALREADY_EXIT = 3


def _say(message: str) -> None:
    print(f"[adapt] {message}", file=sys.stderr, flush=True)


def _add_script_options(p, with_env: bool = True) -> None:
    p.add_argument("script", type=Path, help="the training script (run as `python SCRIPT` from its folder)")
    p.add_argument("--to", required=True, metavar="FUNCTIONALITY[:COMPONENT]",
                   help="tracking[:mlflow|wandb], registration, hpo[:optuna], pruning[:nncf|torch-prune], "
                        "version-control[:dvc] (GitPython code)")
    p.add_argument("--framework", help="pytorch, lightning, keras, sklearn or none (default: from the imports)")
    p.add_argument("--instruction", default="", help="extra wishes for the adaptation (names, what to tune, ...)")
    p.add_argument("--fixtures", nargs="+", action="extend", default=[], type=Path, metavar="PATH",
                   help="data files and folders the script needs (kept at their place relative to the script)")
    if with_env:
        p.add_argument("--env", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                       help="environment variables of the trial runs, e.g. EPOCHS=1")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="time limit of each sandbox run (default: from the untouched script's own run)")
    p.add_argument("--cache-dir", type=Path, help="baselines, runs, generations, executions (default ~/.cache/adaptbench)")


@registrar
def add_adapt(sub):
    p = sub.add_parser("adapt", help="adapt your own script to an MLOps tool, verified in the sandbox",
                       description="Adapt SCRIPT with a model, run every candidate in the sandbox and keep the first "
                                   "one the checks verify. The input is never overwritten.")
    _add_script_options(p)
    p.add_argument("--model", default=None, help="model or cascade 'a>b' (default: embedded/qwen2.5-coder-1.5b)")
    p.add_argument("-M", "--option", action="append", default=[], metavar="KEY=VALUE", help="model option, repeatable")
    p.add_argument("-n", type=int, default=3, help="samples to try, one at a time, until one is verified (default 3)")
    p.add_argument("--best-of", action="store_true", help="try all n samples and keep the best verified one")
    p.add_argument("--temperature", type=float, default=0.2)
    p.add_argument("--setting", default="docprompt", choices=["zero-shot", "docprompt"],
                   help="prompt with the component's manual (docprompt, default) or without")
    p.add_argument("--max-tokens", type=int, default=2048)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--out", type=Path, help="where the adapted script goes (default: <name>.<component>.py beside it)")
    p.add_argument("--save-task", action="store_true",
                   help="also write a task (into --tasks-dir) whose reference is the verified adaptation")
    p.add_argument("--task-id", help="id of the task --save-task writes (default: <name>-<target>)")
    _add_loop_options(p)
    p.set_defaults(func=cmd_adapt, rounds=2)


def cmd_adapt(args) -> int:
    from ..adapt import DEFAULT_MODEL, AdaptRequest, adapt, parse_env
    from ..matrix import parse_model_options
    from ..types import Setting

    loop, budget = loop_and_budget(args)
    request = AdaptRequest(
        script=args.script, to=args.to, model=args.model or DEFAULT_MODEL, model_options=parse_model_options(args.option),
        n=max(1, args.n), temperature=args.temperature, setting=Setting(args.setting), loop=loop, budget=budget,
        max_tokens=args.max_tokens, seed=args.seed, instruction=args.instruction, fixtures=tuple(args.fixtures),
        env=parse_env(args.env), timeout_s=args.timeout, framework=args.framework, out=args.out,
        best_of=args.best_of, cache_dir=args.cache_dir)
    outcome = adapt(request, say=_say)
    if outcome.status == "already":
        print(f"nothing to do: {outcome.message}")
        return ALREADY_EXIT
    _print_outcome(outcome)
    if outcome.verified and args.save_task:
        _save_task(args, request, outcome)
    return 0 if outcome.verified else 1


def _print_outcome(outcome) -> None:
    p, attempt = outcome.prepared, outcome.attempt
    if outcome.verified:
        print(f"VERIFIED: {p.script.path.name} -> {p.target.describe()} (attempt {attempt.round} of sample "
              f"{_sample_of(outcome, attempt)}, {attempt.model})")
    else:
        print(f"NOT VERIFIED: {p.script.path.name} -> {p.target.describe()}: {outcome.message}")
    for check in attempt.verdict.checks if attempt else ():
        print(f"  {'ok  ' if check.passed else 'FAIL'} {check.name}: {check.reason}")
    kept = "" if outcome.verified else " (the best failing attempt)"
    for kind, path in outcome.written.items():
        print(f"wrote {kind}{kept if kind == 'script' else ''}: {path}")
    s = outcome.stats
    print(f"this invocation: {s.get('generated', 0)} generated, {s.get('cached_generations', 0)} from cache, "
          f"{s.get('executed', 0)} executed, {s.get('cached_executions', 0)} executions from cache")


def _sample_of(outcome, attempt) -> int:
    for record in outcome.records:
        if attempt in record.all_attempts():
            return record.key.sample_index + 1
    return 0


def _save_task(args, request, outcome) -> None:
    from ..adapt import install_task, prepare
    from ..cache import default_cache_dir
    from ..tasks import default_tasks_dir

    tasks_dir = Path(args.tasks_dir or default_tasks_dir())
    prepared, verdict = outcome.prepared, outcome.attempt.verdict
    if request.env or args.task_id:  # the saved task runs without the trial environment: prove it as it is
        prepared = prepare(request.script, request.to, Path(request.cache_dir or default_cache_dir()),
                           framework=request.framework, fixtures=list(request.fixtures),
                           instruction=request.instruction, timeout_s=request.timeout_s, task_id=args.task_id,
                           say=_say)
        verdict = None
    reference = outcome.written["script"].read_text()  # exactly the verified script that was written
    new = install_task(prepared, reference, tasks_dir, reference_verdict=verdict, say=_say)
    print(f"saved task {new.task.id} in {new.folder} (reference: the verified script); "
          f"prove it again with: adaptbench --tasks-dir {tasks_dir} validate {new.task.id}")


@registrar
def add_task(sub):
    p = sub.add_parser("task", help="make tasks from scripts: `task new SCRIPT --to ...`")
    actions = p.add_subparsers(metavar="ACTION")
    new = actions.add_parser("new", help="write a task folder from any script and prove it at once",
                             description="Write a task (spec with the checks its kind gets, the input, fixtures, the "
                                         "optional reference) into the tasks dir; the input must fail and a given "
                                         "reference must pass, or nothing is written.")
    _add_script_options(new, with_env=False)
    new.add_argument("--reference", type=Path, help="a correct adaptation; it must pass the task's checks")
    new.add_argument("--id", dest="task_id", help="task id (default: <name>-<target>)")
    new.add_argument("--tasks-dir", type=Path, default=argparse.SUPPRESS,
                     help="where the task folder goes (default: the global --tasks-dir, else tasks/)")
    new.add_argument("--force", action="store_true", help="replace an existing task folder of that id")
    new.set_defaults(func=cmd_task_new)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def cmd_task_new(args) -> int:
    from ..adapt import new_task
    from ..cache import default_cache_dir
    from ..tasks import default_tasks_dir

    tasks_dir = Path(args.tasks_dir or default_tasks_dir())
    new = new_task(args.script, args.to, tasks_dir, Path(args.cache_dir or default_cache_dir()),
                   reference=args.reference, task_id=args.task_id, framework=args.framework,
                   fixtures=args.fixtures, instruction=args.instruction, timeout_s=args.timeout, force=args.force,
                   say=_say)
    task = new.task
    print(f"task {task.id} written to {new.folder}")
    print(f"  input fails with {new.input_verdict.code}: {new.input_verdict.reason}")
    if new.reference_verdict is not None:
        print(f"  reference passes: {new.reference_verdict.reason}")
    for check in task.checks:
        print(f"  check {check.name} {check.args}")
    for warning in new.warnings:
        print(f"  warning: {warning}")
    print(f"next: adaptbench --tasks-dir {tasks_dir} validate {task.id}")
    return 0
