"""Version a dataset and the model trained on it with DVC, and tag the release with git.

Prepares train/test splits of the wine dataset bundled with scikit-learn and trains a random forest.
DVC tracks the data folder and the model file (instead of git and Git LFS) and pushes them to the DVC
remote; git keeps the code, the metrics and the .dvc files, whose commit is tagged as the release and
pushed with the tag to the shared repository under remotes/.
"""

import json
import logging
import os
import subprocess
from pathlib import Path

import joblib
import pandas as pd
from git import Repo
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
log = logging.getLogger("version_data_and_model")

DATA_DIR = Path("data")
MODEL_FILE = Path("models/wine_rf.joblib")
METRICS_FILE = Path("metrics.json")
SHARED_REPO = Path("remotes/wine-model.git")
RELEASE_TAG = "v1.0"
DVC_REMOTE, DVC_STORAGE = "storage", "dvc-storage"
SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"
N_TREES = 20 if SMOKE else 300


def prepare_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = load_wine(as_frame=True).frame
    train, test = train_test_split(frame, test_size=0.25, random_state=7, stratify=frame["target"])
    DATA_DIR.mkdir(exist_ok=True)
    train.to_csv(DATA_DIR / "train.csv", index=False)
    test.to_csv(DATA_DIR / "test.csv", index=False)
    return train, test


def train_model(train: pd.DataFrame, test: pd.DataFrame) -> dict:
    model = RandomForestClassifier(n_estimators=N_TREES, random_state=7)
    model.fit(train.drop(columns="target"), train["target"])
    predicted = model.predict(test.drop(columns="target"))
    MODEL_FILE.parent.mkdir(exist_ok=True)
    joblib.dump(model, MODEL_FILE)
    metrics = {"accuracy": accuracy_score(test["target"], predicted),
               "f1_macro": f1_score(test["target"], predicted, average="macro"), "n_trees": N_TREES}
    METRICS_FILE.write_text(json.dumps(metrics, indent=2))
    return metrics


def dvc(*args: str) -> None:
    """Run a DVC command line; stop the release if it fails."""
    subprocess.run(["dvc", *args], check=True)


def open_repository() -> Repo:
    """The git repository with the shared repository as 'origin', and DVC set up with its remote."""
    repo = Repo(".")
    if not SHARED_REPO.exists():
        Repo.init(SHARED_REPO, bare=True)
    if "origin" not in [remote.name for remote in repo.remotes]:
        repo.create_remote("origin", str(SHARED_REPO.resolve()))
    if not Path(".dvc").is_dir():
        dvc("init", "--quiet")
    dvc("remote", "add", "--default", "--force", DVC_REMOTE, DVC_STORAGE)
    return repo


def release(repo: Repo, metrics: dict) -> None:
    dvc("add", str(DATA_DIR), str(MODEL_FILE))
    repo.index.add([".gitignore", f"{DATA_DIR}.dvc", f"{MODEL_FILE}.dvc", str(MODEL_FILE.parent / ".gitignore"),
                    str(METRICS_FILE), ".dvc/config", ".dvc/.gitignore", ".dvcignore"])
    commit = repo.index.commit(f"Release {RELEASE_TAG}: random forest, accuracy {metrics['accuracy']:.3f}")
    repo.create_tag(RELEASE_TAG, ref=commit, message=f"Model release {RELEASE_TAG}\n\n{json.dumps(metrics)}",
                    force=True)
    dvc("push")
    branch = repo.active_branch.name
    origin = repo.remote("origin")
    origin.push(refspec=f"{branch}:{branch}").raise_if_error()
    origin.push(refspec=f"refs/tags/{RELEASE_TAG}:refs/tags/{RELEASE_TAG}", force=True).raise_if_error()
    log.info("released %s as commit %s", RELEASE_TAG, commit.hexsha[:8])


def main() -> None:
    train, test = prepare_data()
    metrics = train_model(train, test)
    log.info("accuracy %.3f, macro F1 %.3f", metrics["accuracy"], metrics["f1_macro"])
    release(open_repository(), metrics)


if __name__ == "__main__":
    main()
