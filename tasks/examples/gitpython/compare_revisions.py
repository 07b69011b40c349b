"""Compare models trained on two tagged versions of a dataset, reading the older one back from Git (GitPython).

Two versions of a patient table (from the diabetes dataset bundled with scikit-learn) are committed and tagged:
'data-v1' with the first enrolment wave, 'data-v2' with the second wave appended. Branch and tags are pushed
to the shared repository under remotes/. The script then reads data/patients.csv as it was at 'data-v1'
straight from the repository, without touching the working tree, trains the same model on both versions and
writes the comparison on a fixed hold-out set to reports/comparison.json.
"""

import io
import json
import logging
from pathlib import Path

import pandas as pd
from git import Repo
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import train_test_split

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
log = logging.getLogger("compare_revisions")

DATA_FILE = Path("data/patients.csv")
REPORT_FILE = Path("reports/comparison.json")
SHARED_REPO = Path("remotes/patients.git")
OLD_TAG, NEW_TAG = "data-v1", "data-v2"
FIRST_WAVE = 0.6
ALPHA = 1.0  # the data set is small: ADAPTBENCH_SMOKE=1 has nothing to shrink


def load_waves() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """First wave, second wave and a hold-out set that neither dataset version contains."""
    frame = load_diabetes(as_frame=True, scaled=False).frame
    pool, holdout = train_test_split(frame, test_size=0.2, random_state=0)
    cut = int(len(pool) * FIRST_WAVE)
    return pool.iloc[:cut], pool.iloc[cut:], holdout


def open_repository() -> Repo:
    repo = Repo(".")
    if not SHARED_REPO.exists():
        Repo.init(SHARED_REPO, bare=True)
    if "origin" not in [remote.name for remote in repo.remotes]:
        repo.create_remote("origin", str(SHARED_REPO.resolve()))
    return repo


def commit_version(repo: Repo, frame: pd.DataFrame, tag: str) -> None:
    DATA_FILE.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(DATA_FILE, index=False)
    repo.index.add([str(DATA_FILE)])
    commit = repo.index.commit(f"data: {len(frame)} patients")
    repo.create_tag(tag, ref=commit, message=f"patients table, {len(frame)} rows", force=True)


def read_at(repo: Repo, rev: str) -> pd.DataFrame:
    """The data file as committed at `rev`, read from the repository (the working tree keeps the latest)."""
    blob = repo.commit(rev).tree / DATA_FILE.as_posix()
    return pd.read_csv(io.BytesIO(blob.data_stream.read()))


def fit_and_score(train: pd.DataFrame, holdout: pd.DataFrame) -> dict:
    model = Ridge(alpha=ALPHA).fit(train.drop(columns="target"), train["target"])
    predicted = model.predict(holdout.drop(columns="target"))
    return {"rows": len(train), "mae": mean_absolute_error(holdout["target"], predicted),
            "r2": r2_score(holdout["target"], predicted)}


def main() -> None:
    repo = open_repository()
    first, second, holdout = load_waves()
    commit_version(repo, first, OLD_TAG)
    commit_version(repo, pd.concat([first, second], ignore_index=True), NEW_TAG)
    origin = repo.remote("origin")
    branch = repo.active_branch.name
    origin.push(refspec=f"{branch}:{branch}").raise_if_error()
    for tag in (OLD_TAG, NEW_TAG):
        origin.push(refspec=f"refs/tags/{tag}:refs/tags/{tag}", force=True).raise_if_error()

    old = read_at(repo, OLD_TAG)
    current = pd.read_csv(DATA_FILE)
    report = {OLD_TAG: fit_and_score(old, holdout), NEW_TAG: fit_and_score(current, holdout)}
    REPORT_FILE.parent.mkdir(parents=True, exist_ok=True)
    REPORT_FILE.write_text(json.dumps(report, indent=2))
    for tag, scores in report.items():
        log.info("%s: %d rows, hold-out MAE %.1f, R2 %.3f", tag, scores["rows"], scores["mae"], scores["r2"])


if __name__ == "__main__":
    main()
