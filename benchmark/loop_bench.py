"""One-shot against repair rounds against a cascade, on the same tasks, in one run: `make loop-bench`.

Each configuration is an ordinary run of the matrix (same tasks, temperature, setting and n), so the three share the
generation and execution caches: the first attempts of the repair run are the one-shot run's answers, and a cascade's
first model answers as it did alone. Printed per configuration: samples, pass@1 (final verdicts), mean attempts,
mean cost per sample and cost per pass (API tokens at list price; local generation time at the hourly price).
The defaults are `make benchmark`'s (its tasks, T=0, zero-shot, whole files, 3 rounds), so after it only the
cascade's attempts are new."""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

from .cache import Cache
from .matrix import cpu_profile, make_spec
from .runner import Runner
from .tasks import load_tasks
from .types import Budget, GenerationConfig, LoopSpec, RuntimeConfig, SampleRecord, Setting

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Config:
    label: str
    model: str
    loop: LoopSpec


@dataclass(frozen=True)
class Outcome:
    label: str
    samples: int
    passed: int
    attempts: int
    cost_usd: float

    @property
    def pass_at_1(self) -> float:
        return self.passed / self.samples if self.samples else 0.0

    @property
    def cost_per_pass(self) -> float | None:
        return self.cost_usd / self.passed if self.passed else None


def configurations(model: str, cascade: str, rounds: int, edit_format: str) -> list[Config]:
    one_shot = LoopSpec(rounds=1, edit_format=edit_format, merge_elided=True)
    repair = one_shot.model_copy(update={"rounds": rounds})
    return [Config("one-shot", model, one_shot), Config(f"{rounds} rounds", model, repair),
            Config(f"cascade {cascade}", cascade, repair)]


def outcome(label: str, records: list[SampleRecord]) -> Outcome:
    return Outcome(label, len(records), sum(r.verdict.passed for r in records),
                   sum(len(r.all_attempts()) for r in records), sum(r.cost.usd for r in records))


def run_all(configs: list[Config], task_ids: list[str] | None, temperature: float, setting: Setting, n: int,
            max_tokens: int, runs_dir: Path, cache: Cache, workers: int, tasks_dir: Path | None = None,
            model_options: dict[str, dict[str, str]] | None = None) -> list[Outcome]:
    tasks = load_tasks(task_ids, tasks_dir=tasks_dir) if task_ids else cpu_profile(load_tasks(tasks_dir=tasks_dir))
    results = []
    for config in configs:
        spec = make_spec(tasks, [config.model], [temperature], [setting], n, loop=config.loop,
                         model_options=model_options, generation=GenerationConfig(max_tokens=max_tokens),
                         prefix="loop-bench", budget=Budget())
        runner = Runner(spec, tasks, runs_dir / spec.run_id, cache, RuntimeConfig(workers=workers, progress=False))
        results.append(outcome(config.label, runner.run()))
        log.info("%s: %s", config.label, runner.stats)
    return results


def table(results: list[Outcome]) -> list[str]:
    lines = [f"{'configuration':32} {'samples':>7} {'pass@1':>7} {'attempts':>9} {'USD/sample':>11} {'USD/pass':>10}"]
    for r in results:
        per_pass = f"{r.cost_per_pass:.6f}" if r.cost_per_pass is not None else "-"
        lines.append(f"{r.label:32} {r.samples:>7} {r.pass_at_1:>7.1%} {r.attempts / max(1, r.samples):>9.2f} "
                     f"{r.cost_usd / max(1, r.samples):>11.6f} {per_pass:>10}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", help="comma-separated task ids (default: the cpu profile's, as make benchmark)")
    parser.add_argument("--model", default="embedded/qwen2.5-coder-1.5b")
    parser.add_argument("--cascade", default="embedded>embedded/qwen2.5-coder-1.5b")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--edit-format", default="whole")
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--setting", default="zero-shot", choices=[s.value for s in Setting])
    parser.add_argument("-n", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=1536)
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    configs = configurations(args.model, args.cascade, args.rounds, args.edit_format)
    task_ids = [t.strip() for t in args.tasks.split(",")] if args.tasks else None
    results = run_all(configs, task_ids, args.temperature, Setting(args.setting), args.n, args.max_tokens,
                      args.runs_dir, Cache(args.cache_dir), args.workers)
    for line in table(results):
        log.info("%s", line)


if __name__ == "__main__":
    main()
