"""Version a growing sensor dataset with DVC (data) and Git (code and DVC files).

Every collection round appends a batch of readings to data/readings.csv, records the new version with DVC,
commits the small .dvc file to git, pushes the data to the DVC remote and the commit to the shared repository.
"""

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
from dvc.repo import Repo as DvcRepo
from git import Repo

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
log = logging.getLogger("version_dataset")

DATA_FILE = Path("data/readings.csv")
SHARED_REPO = Path("remotes/sensors.git")
DVC_REMOTE, DVC_STORAGE = "storage", "dvc-storage"
SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"
ROWS_PER_BATCH = 200 if SMOKE else 20_000
SENSORS = ["north", "south", "east", "west"]


def collect_batch(batch: int, rows: int) -> pd.DataFrame:
    """Simulate one collection round of temperature/humidity readings."""
    rng = np.random.default_rng(batch)
    start = pd.Timestamp("2024-01-01") + pd.Timedelta(hours=rows * batch)
    temperature = 18 + 6 * np.sin(np.linspace(0, 4 * np.pi, rows)) + rng.normal(0, 0.8, rows)
    return pd.DataFrame({
        "timestamp": pd.date_range(start, periods=rows, freq="h"),
        "sensor": rng.choice(SENSORS, rows),
        "temperature_c": temperature.round(2),
        "humidity_pct": np.clip(rng.normal(55, 12, rows), 5, 100).round(1),
        "batch": batch,
    })


def update_dataset(batch: int) -> pd.DataFrame:
    """Append a new batch to the dataset file (creating it on the first round)."""
    new = collect_batch(batch, ROWS_PER_BATCH)
    if DATA_FILE.exists():
        new = pd.concat([pd.read_csv(DATA_FILE, parse_dates=["timestamp"]), new], ignore_index=True)
    DATA_FILE.parent.mkdir(parents=True, exist_ok=True)
    new.to_csv(DATA_FILE, index=False)
    return new


def open_repositories() -> tuple[Repo, DvcRepo]:
    """The git repository (code, .dvc files; 'origin' is the shared repository) and DVC on top of it."""
    repo = Repo(".")
    if not SHARED_REPO.exists():
        Repo.init(SHARED_REPO, bare=True)
    if "origin" not in [remote.name for remote in repo.remotes]:
        repo.create_remote("origin", str(SHARED_REPO.resolve()))
    dvc = DvcRepo(".") if Path(".dvc").is_dir() else DvcRepo.init(".")
    with dvc.config.edit() as conf:
        conf["remote"][DVC_REMOTE] = {"url": DVC_STORAGE}
        conf["core"]["remote"] = DVC_REMOTE
    return repo, dvc


def commit_version(repo: Repo, dvc: DvcRepo, dataset: pd.DataFrame, batch: int) -> str:
    dvc.add(str(DATA_FILE))
    repo.index.add([f"{DATA_FILE}.dvc", str(DATA_FILE.parent / ".gitignore"),
                    ".dvc/config", ".dvc/.gitignore", ".dvcignore"])
    commit = repo.index.commit(f"data: add batch {batch} ({len(dataset)} readings in total)")
    return commit.hexsha


def push(repo: Repo, dvc: DvcRepo) -> None:
    pushed = dvc.push()
    branch = repo.active_branch.name
    repo.remote("origin").push(refspec=f"{branch}:{branch}").raise_if_error()
    log.info("pushed %d data file(s) to DVC remote '%s' and %s to %s", pushed, DVC_REMOTE, branch, SHARED_REPO)


def main() -> None:
    repo, dvc = open_repositories()
    for batch in (1, 2):
        dataset = update_dataset(batch)
        sha = commit_version(repo, dvc, dataset, batch)
        log.info("dataset version %s: %d rows, mean temperature %.2f C",
                 sha[:8], len(dataset), dataset["temperature_c"].mean())
        push(repo, dvc)


if __name__ == "__main__":
    main()
