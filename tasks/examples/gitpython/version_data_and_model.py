"""Version a dataset and the model trained on it with Git (GitPython), and tag the release.

Prepares train/test splits of the wine dataset bundled with scikit-learn, trains a random forest,
commits data, model and metrics together (the binary model file goes through Git LFS attributes),
tags the commit as a release and pushes branch and tag to the shared repository under remotes/.
"""

import json
import logging
import os
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
LFS_PATTERNS = ["*.joblib"]
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


def open_repository() -> Repo:
    repo = Repo(".")
    if not SHARED_REPO.exists():
        Repo.init(SHARED_REPO, bare=True)
    if "origin" not in [remote.name for remote in repo.remotes]:
        repo.create_remote("origin", str(SHARED_REPO.resolve()))
    return repo


def track_binaries_with_lfs() -> Path:
    """Route large binary files through Git LFS (the equivalent of `git lfs track`)."""
    attributes = Path(".gitattributes")
    lines = attributes.read_text().splitlines() if attributes.exists() else []
    for pattern in LFS_PATTERNS:
        rule = f"{pattern} filter=lfs diff=lfs merge=lfs -text"
        if rule not in lines:
            lines.append(rule)
    attributes.write_text("\n".join(lines) + "\n")
    return attributes


def release(repo: Repo, metrics: dict) -> None:
    attributes = track_binaries_with_lfs()
    repo.index.add([str(attributes), str(DATA_DIR / "train.csv"), str(DATA_DIR / "test.csv"),
                    str(MODEL_FILE), str(METRICS_FILE)])
    commit = repo.index.commit(f"Release {RELEASE_TAG}: random forest, accuracy {metrics['accuracy']:.3f}")
    repo.create_tag(RELEASE_TAG, ref=commit, message=f"Model release {RELEASE_TAG}\n\n{json.dumps(metrics)}",
                    force=True)
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
