"""Tables of the adaptation loop: pass@1 after each round, verdicts per round, well-formed edits per model, and cost
against success per model or cascade.

Rows are configurations: the model (or cascade 'a>b'), plus the setting, the retrieval strategy and the loop axes
wherever the run holds more than one value of them. Temperatures and tasks are pooled in a row."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from benchmark.metrics import LOOP_AXES, axis_value, pass_rate_by_round, varying_axes
from benchmark.types import RunSpec, SampleRecord

from ._counts import CATEGORY_ORDER, CountTable, Price, count_pairs, record_cost
from ._labels import sort_key

MERGED_KIND = "merged"
EDIT_KINDS = ("edit.malformed", "edit.no_match")


def config_axes(records: Sequence[SampleRecord]) -> tuple[str, ...]:
    """The model, then whichever of setting, retrieval and the loop axes vary over the records."""
    return ("model", *varying_axes(records, ("setting", "retrieval", *LOOP_AXES)))


def _groups(records: Sequence[SampleRecord], axes: Sequence[str], spec: RunSpec | None
            ) -> list[tuple[tuple, list[SampleRecord]]]:
    groups: dict[tuple, list[SampleRecord]] = {}
    for record in records:
        groups.setdefault(tuple(axis_value(record, a) for a in axes), []).append(record)
    order = sorted(groups, key=lambda g: tuple(sort_key(a, v, spec) for a, v in zip(axes, g)))
    return [(g, groups[g]) for g in order]


# ---------------------------------------------------------------- rounds


def max_rounds(records: Sequence[SampleRecord]) -> int:
    """The most attempts a sample of the run could make (rounds x models of the chain), or made."""
    return max((max(r.key.rounds * len(r.key.chain), len(r.all_attempts())) for r in records), default=1)


@dataclass(frozen=True)
class RoundRow:
    group: tuple
    samples: int
    pass_by_round: tuple[float | None, ...]  # pass@1 after round 1, 2, ...


@dataclass(frozen=True)
class RoundTable:
    axes: tuple[str, ...]
    rounds: int
    rows: tuple[RoundRow, ...]


def round_table(records: Sequence[SampleRecord], spec: RunSpec | None = None) -> RoundTable:
    """pass@1 after round r (r = 1..max rounds) per configuration: the share of its samples that passed in one of
    their first r attempts."""
    axes, rounds = config_axes(records), max_rounds(records)
    rows = tuple(RoundRow(group, len(members), tuple(pass_rate_by_round(members, rounds)))
                 for group, members in _groups(records, axes, spec))
    return RoundTable(axes=axes, rounds=rounds, rows=rows)


def round_failure_table(records: Sequence[SampleRecord], spec: RunSpec | None = None) -> CountTable:
    """Verdict categories of the attempts, per configuration and round number."""
    axes = config_axes(records)
    pairs = ((tuple(axis_value(r, a) for a in axes) + (attempt.round,), attempt.verdict.category.value)
             for r in records for attempt in r.all_attempts())
    return count_pairs(pairs, (*axes, "round"), "Verdict categories of the attempts per round", CATEGORY_ORDER, spec)


# ---------------------------------------------------------------- edits


@dataclass(frozen=True)
class EditRow:
    group: tuple  # (the attempt's model, [edit format])
    attempts: int
    edits: int  # attempts judged as edits (well_formed is not None)
    well_formed: int
    malformed: int
    no_match: int
    merged: int  # whole-file answers whose elided parts were restored from the input

    @property
    def not_edits(self) -> int:
        """Attempts not judged as edits: whole-file answers, backend failures."""
        return self.attempts - self.edits

    @property
    def well_formed_share(self) -> float | None:
        return self.well_formed / self.edits if self.edits else None


def has_edits(records: Sequence[SampleRecord]) -> bool:
    """Whether the run used an edit format or merged elided answers (else the edit table says nothing)."""
    return any(r.key.edit_format != "whole" or r.key.merge_elided for r in records) or any(
        a.extraction.well_formed is not None or a.extraction.kind == MERGED_KIND
        for r in records for a in r.all_attempts())


def edit_axes(records: Sequence[SampleRecord]) -> tuple[str, ...]:
    return ("attempt_model", *varying_axes(records, ("edit_format",)))


def edit_rows(records: Sequence[SampleRecord], spec: RunSpec | None = None) -> list[EditRow]:
    """Per model that made the attempt (each member of a cascade on its own): how many of its edits were
    well-formed and applied, and how its answers failed to apply."""
    axes = edit_axes(records)
    per_row: dict[tuple, list] = {}
    for record in records:
        rest = tuple(axis_value(record, a) for a in axes[1:])
        for attempt in record.all_attempts():
            per_row.setdefault((attempt.model, *rest), []).append(attempt.extraction)
    order = sorted(per_row, key=lambda g: tuple(sort_key(a, v, spec) for a, v in zip(axes, g)))
    return [_edit_row(g, per_row[g]) for g in order]


def _edit_row(group: tuple, extractions: list) -> EditRow:
    kinds = Counter(e.kind for e in extractions)
    judged = [e.well_formed for e in extractions if e.well_formed is not None]
    return EditRow(group=group, attempts=len(extractions), edits=len(judged), well_formed=sum(judged),
                   malformed=kinds[EDIT_KINDS[0]], no_match=kinds[EDIT_KINDS[1]], merged=kinds[MERGED_KIND])


# ---------------------------------------------------------------- cost


@dataclass(frozen=True)
class CostRow:
    group: tuple
    samples: int
    passed: int  # samples whose final verdict is a pass
    tasks: int
    solved_tasks: int  # tasks with at least one passing sample in the row
    total_usd: float | None  # None: some sample's cost is unknown (a version 1 record of a model with no price)
    attempts: int
    final_models: tuple[tuple[str, int], ...]  # a cascade's final answers per member (empty for a single model)

    @property
    def success_rate(self) -> float:
        return self.passed / self.samples

    @property
    def mean_usd(self) -> float | None:
        return None if self.total_usd is None else self.total_usd / self.samples

    @property
    def usd_per_pass(self) -> float | None:
        return None if self.total_usd is None or not self.passed else self.total_usd / self.passed

    @property
    def usd_per_solved_task(self) -> float | None:
        return None if self.total_usd is None or not self.solved_tasks else self.total_usd / self.solved_tasks

    @property
    def mean_attempts(self) -> float:
        return self.attempts / self.samples


def cost_rows(records: Sequence[SampleRecord], prices: dict[str, Price], spec: RunSpec | None = None
              ) -> list[CostRow]:
    axes = config_axes(records)
    return [_cost_row(group, members, prices, spec) for group, members in _groups(records, axes, spec)]


def _cost_row(group: tuple, records: list[SampleRecord], prices: dict[str, Price], spec: RunSpec | None) -> CostRow:
    costs = [record_cost(r, prices) for r in records]
    chain = records[0].key.chain
    finals = Counter(r.final_model or r.key.model for r in records) if len(chain) > 1 else Counter()
    members = sorted(finals, key=lambda m: (chain.index(m) if m in chain else len(chain), m))
    return CostRow(group=group, samples=len(records), passed=sum(r.verdict.passed for r in records),
                   tasks=len({r.key.task_id for r in records}),
                   solved_tasks=len({r.key.task_id for r in records if r.verdict.passed}),
                   total_usd=None if any(c is None for c in costs) else sum(costs),
                   attempts=sum(len(r.all_attempts()) for r in records),
                   final_models=tuple((m, finals[m]) for m in members))


COST_NOTE = ("Cost per sample: API tokens at the price table's list prices, local generation time at "
             "${rate:g} per hour, summed over the sample's attempts. Success: the share of samples whose final "
             "verdict (their last attempt's) is a pass. Cost per pass: the row's total cost / its passing samples. "
             "Cost per solved task: the row's total cost / the tasks with at least one passing sample. "
             "Blank where a sample's cost is unknown (a record from before costs were recorded, of a model with no "
             "price); – where nothing passed.")


def cost_note(spec: RunSpec) -> str:
    return COST_NOTE.format(rate=spec.budget.compute_usd_per_hour)


@dataclass(frozen=True)
class LoopContent:
    """The loop's tables for the renderers, computed once."""

    axes: tuple[str, ...]  # rows of the rounds and cost tables (config_axes)
    rounds: RoundTable
    round_failures: CountTable
    edit_axes: tuple[str, ...]
    edits: list[EditRow]
    show_edits: bool
    costs: list[CostRow]

    @property
    def show_rounds(self) -> bool:
        """A one-shot run has one round, whose pass@1 the cost table already gives."""
        return self.rounds.rounds > 1


def loop_content(records: Sequence[SampleRecord], spec: RunSpec, prices: dict[str, Price]) -> LoopContent:
    return LoopContent(axes=config_axes(records), rounds=round_table(records, spec),
                       round_failures=round_failure_table(records, spec), edit_axes=edit_axes(records),
                       edits=edit_rows(records, spec), show_edits=has_edits(records),
                       costs=cost_rows(records, prices, spec))
