"""Grading adaptations made elsewhere: a JSONL file of {"task_id", "code"} (or {"task_id", "completion"}) lines."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .cache import Cache
from .errors import AdaptbenchError
from .evaluation import evaluate_code
from .extract import extract_code
from .tasks import load_tasks

log = logging.getLogger(__name__)


def read_predictions(path: Path) -> list[dict]:
    if not Path(path).is_file():
        raise AdaptbenchError(f"predictions file '{path}' not found")
    rows = []
    for lineno, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AdaptbenchError(f"{path}:{lineno}: not JSON ({exc.msg})", "one JSON object per line") from None
        if not isinstance(row, dict) or "task_id" not in row or not ({"code", "completion"} & row.keys()):
            raise AdaptbenchError(f"{path}:{lineno}: needs 'task_id' and 'code' (or 'completion')",
                                  'e.g. {"task_id": "mlflow-tracking-sklearn-tree", "code": "import mlflow ..."}')
        rows.append({**row, "line": lineno})
    return rows


def evaluate_predictions(path: Path, out: Path, tasks_dir: Path | None = None, workers: int = 2,
                         cache: Cache | None = None) -> list[dict]:
    rows = read_predictions(path)
    by_id = {t.id: t for t in load_tasks(sorted({r["task_id"] for r in rows}), tasks_dir=tasks_dir)}
    cache = cache or Cache()
    with ThreadPoolExecutor(max(1, workers)) as pool:
        results = list(pool.map(lambda r: _grade_row(r, by_id[r["task_id"]], cache), rows))
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w") as fh:
        for result in results:
            fh.write(json.dumps(result, default=str) + "\n")
    return results


def _grade_row(row: dict, task, cache: Cache) -> dict:
    from .runner import verdict_without_execution
    from .types import Completion

    if "code" in row:
        code, extraction_kind = row["code"], "given"
    else:
        extraction = extract_code(row["completion"], task.input_code())
        verdict = verdict_without_execution(Completion(text=row["completion"]), extraction)
        if verdict is not None:
            return {"task_id": task.id, "line": row["line"], "verdict": verdict.model_dump(mode="json"), "execution": None}
        code, extraction_kind = extraction.code, extraction.kind
    evaluated = evaluate_code(task, code, cache)
    execution, verdict = evaluated.execution, evaluated.verdict
    return {"task_id": task.id, "line": row["line"], "extraction": extraction_kind,
            "verdict": verdict.model_dump(mode="json"),
            "execution": execution.model_dump(mode="json") if execution else None}
