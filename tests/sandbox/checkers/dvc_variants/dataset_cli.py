"""A second correct translation of version_dataset.py: the DVC command line through subprocess, git through
GitPython's command wrapper, and a DVC remote given as an absolute path."""

import logging
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
from git import Repo

logging.basicConfig(level=logging.INFO)
log = logging.getLogger("version_dataset")

DATA_FILE = Path("data/readings.csv")
SHARED_REPO = Path("remotes/sensors.git")
ROWS = 200 if os.environ.get("ADAPTBENCH_SMOKE") == "1" else 20_000


def dvc(*args):
    subprocess.run(["dvc", *args], check=True)


def collect_batch(batch, rows):
    rng = np.random.default_rng(batch)
    return pd.DataFrame({
        "timestamp": pd.date_range(pd.Timestamp("2024-01-01") + pd.Timedelta(hours=rows * batch), periods=rows, freq="h"),
        "sensor": rng.choice(["north", "south", "east", "west"], rows),
        "temperature_c": (18 + rng.normal(0, 3, rows)).round(2),
        "humidity_pct": np.clip(rng.normal(55, 12, rows), 5, 100).round(1),
        "batch": batch,
    })


def main():
    repo = Repo(".")
    if not SHARED_REPO.exists():
        Repo.init(SHARED_REPO, bare=True)
        repo.create_remote("origin", str(SHARED_REPO.resolve()))
    dvc("init", "-q")
    dvc("remote", "add", "-d", "storage", str(Path("dvc-storage").resolve()))
    repo.git.add(".dvc", ".dvcignore")
    repo.git.commit("-m", "Initialise DVC")
    for batch in (1, 2):
        frame = collect_batch(batch, ROWS)
        if DATA_FILE.exists():
            frame = pd.concat([pd.read_csv(DATA_FILE), frame], ignore_index=True)
        DATA_FILE.parent.mkdir(exist_ok=True)
        frame.to_csv(DATA_FILE, index=False)
        dvc("add", str(DATA_FILE))
        repo.git.add(f"{DATA_FILE}.dvc", "data/.gitignore")
        repo.git.commit("-m", f"data: batch {batch}, {len(frame)} readings")
        dvc("push", "-r", "storage")
        repo.git.push("origin", repo.active_branch.name)
        log.info("version %s pushed", repo.head.commit.hexsha[:8])


if __name__ == "__main__":
    main()
