"""Collect lab measurements and keep every snapshot with DVC (data) and git (code, DVC files, tags).

Each run of the lab appends readings to data/measurements.csv; every snapshot is recorded with DVC, its
small .dvc file committed with GitPython and tagged (snapshot-1, snapshot-2, ...), and the data pushed to
the DVC remote, so any earlier state of the data can be checked out again with git + dvc.

    python snapshot_measurements.py --snapshots 2 --rows 150
"""
import argparse
import csv
import random
from pathlib import Path

from dvc.repo import Repo as DvcRepo
from git import Repo

DATA = Path("data/measurements.csv")
FIELDS = ["sample_id", "temperature_c", "ph", "conductivity_us"]
DVC_REMOTE, DVC_STORAGE = "storage", "dvc-storage"


def append_readings(path, start_id, rows, seed):
    rnd = random.Random(seed)
    new_file = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", newline="") as handle:
        writer = csv.writer(handle)
        if new_file:
            writer.writerow(FIELDS)
        for sample in range(start_id, start_id + rows):
            writer.writerow([sample, round(rnd.gauss(21.5, 0.8), 2), round(rnd.gauss(7.1, 0.2), 2),
                             round(rnd.gauss(480, 35), 1)])


def open_dvc(root):
    dvc = DvcRepo(root) if Path(root, ".dvc").is_dir() else DvcRepo.init(root)
    with dvc.config.edit() as conf:
        conf["remote"][DVC_REMOTE] = {"url": DVC_STORAGE}
        conf["core"]["remote"] = DVC_REMOTE
    return dvc


def commit_snapshot(repo, dvc, number, rows):
    dvc.add(str(DATA))
    repo.index.add([f"{DATA}.dvc", str(DATA.parent / ".gitignore"), ".dvc/config", ".dvc/.gitignore", ".dvcignore"])
    commit = repo.index.commit(f"data: snapshot {number} (+{rows} readings)")
    repo.create_tag(f"snapshot-{number}", ref=commit, message=f"measurements snapshot {number}")
    dvc.push()
    return commit


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--snapshots", type=int, default=2)
    parser.add_argument("--rows", type=int, default=150)
    parser.add_argument("--repo", default=".")
    args = parser.parse_args()

    repo = Repo(args.repo) if Path(args.repo, ".git").exists() else Repo.init(args.repo)
    dvc = open_dvc(args.repo)
    for number in range(1, args.snapshots + 1):
        append_readings(DATA, (number - 1) * args.rows, args.rows, seed=number)
        commit = commit_snapshot(repo, dvc, number, args.rows)
        print(f"snapshot {number}: {commit.hexsha[:8]} ({DATA.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
