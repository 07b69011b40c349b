"""Collect lab measurements and keep every snapshot in git.

Each run of the lab appends readings to data/measurements.csv; this script commits each snapshot
with GitPython and tags it (snapshot-1, snapshot-2, ...), so any earlier state of the data can be
checked out again.

    python snapshot_measurements.py --snapshots 2 --rows 150
"""
import argparse
import csv
import random
from pathlib import Path

from git import Repo

DATA = Path("data/measurements.csv")
FIELDS = ["sample_id", "temperature_c", "ph", "conductivity_us"]


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


def commit_snapshot(repo, number, rows):
    repo.index.add([str(DATA)])
    commit = repo.index.commit(f"data: snapshot {number} (+{rows} readings)")
    repo.create_tag(f"snapshot-{number}", ref=commit, message=f"measurements snapshot {number}")
    return commit


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--snapshots", type=int, default=2)
    parser.add_argument("--rows", type=int, default=150)
    parser.add_argument("--repo", default=".")
    args = parser.parse_args()

    repo = Repo(args.repo) if Path(args.repo, ".git").exists() else Repo.init(args.repo)
    for number in range(1, args.snapshots + 1):
        append_readings(DATA, (number - 1) * args.rows, args.rows, seed=number)
        commit = commit_snapshot(repo, number, args.rows)
        print(f"snapshot {number}: {commit.hexsha[:8]} ({DATA.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
