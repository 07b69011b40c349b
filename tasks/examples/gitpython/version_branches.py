"""Curate a customer dataset on a branch with Git (GitPython), merge it back and tag both versions.

The raw export of a customer table is committed on main and tagged 'data-v1'. A 'cleaning' branch drops
duplicated and invalid rows and commits the cleaned file; main then takes the cleaned version (a fast-forward
merge) and tags it 'data-v2'. Both branches and both tags are pushed to the shared repository under remotes/.
"""

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
from git import Repo

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
log = logging.getLogger("version_branches")

DATA_FILE = Path("data/customers.csv")
SHARED_REPO = Path("remotes/customers.git")
CLEANING_BRANCH = "cleaning"
RAW_TAG, CLEAN_TAG = "data-v1", "data-v2"
SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"
ROWS = 500 if SMOKE else 50_000
PLANS = ["basic", "standard", "premium"]


def export_raw(rows: int, seed: int = 0) -> pd.DataFrame:
    """A raw export as it comes out of the CRM: some rows are duplicated, some values are impossible."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "customer_id": np.arange(rows),
        "age": rng.integers(16, 90, rows),
        "plan": rng.choice(PLANS, rows),
        "monthly_spend": rng.gamma(2.0, 20.0, rows).round(2),
        "churned": rng.random(rows) < 0.2,
    })
    broken = rng.random(rows) < 0.05
    frame.loc[broken, "age"] = -1
    return pd.concat([frame, frame.sample(frac=0.05, random_state=seed)], ignore_index=True)


def clean(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.drop_duplicates(subset="customer_id")
    return frame[(frame["age"] >= 18) & (frame["monthly_spend"] >= 0)].sort_values("customer_id")


def write(frame: pd.DataFrame) -> None:
    DATA_FILE.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(DATA_FILE, index=False)


def open_repository() -> Repo:
    """The project repository, connected to the shared repository as 'origin'."""
    repo = Repo(".")
    if not SHARED_REPO.exists():
        Repo.init(SHARED_REPO, bare=True)
    if "origin" not in [remote.name for remote in repo.remotes]:
        repo.create_remote("origin", str(SHARED_REPO.resolve()))
    return repo


def commit_data(repo: Repo, message: str):
    repo.index.add([str(DATA_FILE)])
    return repo.index.commit(message)


def push(repo: Repo, branches: list[str], tags: list[str]) -> None:
    origin = repo.remote("origin")
    for branch in branches:
        origin.push(refspec=f"{branch}:{branch}", force=True).raise_if_error()
    for tag in tags:
        origin.push(refspec=f"refs/tags/{tag}:refs/tags/{tag}", force=True).raise_if_error()
    log.info("pushed branches %s and tags %s to %s", branches, tags, SHARED_REPO)


def main() -> None:
    repo = open_repository()
    main_branch = repo.active_branch

    raw = export_raw(ROWS)
    write(raw)
    raw_commit = commit_data(repo, f"data: raw customer export ({len(raw)} rows)")
    repo.create_tag(RAW_TAG, ref=raw_commit, message="raw customer export", force=True)

    # curate on a branch, so main keeps the raw version until the cleaning is reviewed
    cleaning = repo.create_head(CLEANING_BRANCH, raw_commit, force=True)
    cleaning.checkout()
    cleaned = clean(pd.read_csv(DATA_FILE))
    write(cleaned)
    commit_data(repo, f"data: drop duplicated and invalid rows ({len(raw) - len(cleaned)} removed)")

    main_branch.checkout()
    log.info("%s still holds the raw export: %d rows", main_branch.name, len(pd.read_csv(DATA_FILE)))
    repo.git.merge(CLEANING_BRANCH, "--ff-only")
    repo.create_tag(CLEAN_TAG, ref=repo.head.commit, message="cleaned customer data", force=True)
    log.info("%s now holds the cleaned data: %d rows (tag %s)", main_branch.name, len(pd.read_csv(DATA_FILE)),
             CLEAN_TAG)

    push(repo, [main_branch.name, CLEANING_BRANCH], [RAW_TAG, CLEAN_TAG])


if __name__ == "__main__":
    main()
