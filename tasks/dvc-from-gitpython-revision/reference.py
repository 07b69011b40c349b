"""Compare models trained on two tagged versions of a dataset versioned with DVC, reading the older one back
with the DVC API.

Two versions of a patient table (from the diabetes dataset bundled with scikit-learn) are recorded with DVC;
their .dvc files are committed and tagged: 'data-v1' with the first enrolment wave, 'data-v2' with the second wave
appended. Each version's data is pushed to the DVC remote; branch and tags go to the shared repository under
remotes/. The script then reads data/patients.csv as it was at 'data-v1' with dvc.api (rev='data-v1'), without
touching the workspace, trains the same model on both versions and writes the comparison on a fixed hold-out
set to reports/comparison.json.
"""

import io
import json
import logging
from pathlib import Path

import dvc.api
import pandas as pd
from dvc.repo import Repo as DvcRepo
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
DVC_REMOTE, DVC_STORAGE = "storage", "dvc-storage"
FIRST_WAVE = 0.6
ALPHA = 1.0  # the data set is small: ADAPTBENCH_SMOKE=1 has nothing to shrink


def load_waves() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """First wave, second wave and a hold-out set that neither dataset version contains."""
    frame = load_diabetes(as_frame=True, scaled=False).frame
    pool, holdout = train_test_split(frame, test_size=0.2, random_state=0)
    cut = int(len(pool) * FIRST_WAVE)
    return pool.iloc[:cut], pool.iloc[cut:], holdout


def open_repositories() -> tuple[Repo, DvcRepo]:
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


def commit_version(repo: Repo, dvc: DvcRepo, frame: pd.DataFrame, tag: str) -> None:
    DATA_FILE.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(DATA_FILE, index=False)
    dvc.add(str(DATA_FILE))
    repo.index.add([f"{DATA_FILE}.dvc", str(DATA_FILE.parent / ".gitignore"),
                    ".dvc/config", ".dvc/.gitignore", ".dvcignore"])
    commit = repo.index.commit(f"data: {len(frame)} patients")
    repo.create_tag(tag, ref=commit, message=f"patients table, {len(frame)} rows", force=True)
    dvc.push()  # this version's data, while it is the workspace's


def read_at(rev: str) -> pd.DataFrame:
    """The data file as recorded at `rev`: DVC resolves the .dvc file of that revision and reads the data
    from the cache (or the remote); the workspace keeps the latest version."""
    return pd.read_csv(io.BytesIO(dvc.api.read(DATA_FILE.as_posix(), repo=".", rev=rev, mode="rb")))


def fit_and_score(train: pd.DataFrame, holdout: pd.DataFrame) -> dict:
    model = Ridge(alpha=ALPHA).fit(train.drop(columns="target"), train["target"])
    predicted = model.predict(holdout.drop(columns="target"))
    return {"rows": len(train), "mae": mean_absolute_error(holdout["target"], predicted),
            "r2": r2_score(holdout["target"], predicted)}


def main() -> None:
    repo, dvc_repo = open_repositories()
    first, second, holdout = load_waves()
    commit_version(repo, dvc_repo, first, OLD_TAG)
    commit_version(repo, dvc_repo, pd.concat([first, second], ignore_index=True), NEW_TAG)
    origin = repo.remote("origin")
    branch = repo.active_branch.name
    origin.push(refspec=f"{branch}:{branch}").raise_if_error()
    for tag in (OLD_TAG, NEW_TAG):
        origin.push(refspec=f"refs/tags/{tag}:refs/tags/{tag}", force=True).raise_if_error()

    old = read_at(OLD_TAG)
    current = pd.read_csv(DATA_FILE)
    report = {OLD_TAG: fit_and_score(old, holdout), NEW_TAG: fit_and_score(current, holdout)}
    REPORT_FILE.parent.mkdir(parents=True, exist_ok=True)
    REPORT_FILE.write_text(json.dumps(report, indent=2))
    for tag, scores in report.items():
        log.info("%s: %d rows, hold-out MAE %.1f, R2 %.3f", tag, scores["rows"], scores["mae"], scores["r2"])


if __name__ == "__main__":
    main()
