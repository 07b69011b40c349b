"""A second correct translation of version_pipeline.py: the stages are declared with `dvc stage add`, run with
`dvc repro` and pushed with `dvc push`, all through the command line; git through its own command line too."""

import json
import subprocess
import sys
from pathlib import Path

import joblib
import pandas as pd
import yaml
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

PARAMS = Path("params.yaml")
PREPARED = Path("data/prepared")
MODEL = Path("models/model.joblib")
METRICS = Path("metrics.json")
SHARED = Path("remotes/cancer-pipeline.git")
ME = Path(__file__).name


def sh(*argv):
    subprocess.run(list(argv), check=True)


def params():
    if not PARAMS.exists():
        PARAMS.write_text(yaml.safe_dump({"prepare": {"test_size": 0.3, "seed": 7}, "train": {"C": 0.5}}))
    return yaml.safe_load(PARAMS.read_text())


def prepare(p):
    frame = load_breast_cancer(as_frame=True).frame
    train, test = train_test_split(frame, test_size=p["prepare"]["test_size"], random_state=p["prepare"]["seed"])
    PREPARED.mkdir(parents=True, exist_ok=True)
    train.to_csv(PREPARED / "train.csv", index=False)
    test.to_csv(PREPARED / "test.csv", index=False)


def train(p):
    data = pd.read_csv(PREPARED / "train.csv")
    model = LogisticRegression(C=p["train"]["C"], max_iter=5000).fit(data.drop(columns="target"), data["target"])
    MODEL.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, MODEL)


def evaluate(p):
    data = pd.read_csv(PREPARED / "test.csv")
    model = joblib.load(MODEL)
    METRICS.write_text(json.dumps({"accuracy": accuracy_score(data["target"], model.predict(data.drop(columns="target")))}))


def declare():
    sh("dvc", "stage", "add", "--force", "-n", "prepare", "-p", "prepare.test_size,prepare.seed", "-d", ME,
       "-o", str(PREPARED), f"python {ME} prepare")
    sh("dvc", "stage", "add", "--force", "-n", "train", "-p", "train.C", "-d", ME, "-d", str(PREPARED / "train.csv"),
       "-o", str(MODEL), f"python {ME} train")
    sh("dvc", "stage", "add", "--force", "-n", "evaluate", "-d", ME, "-d", str(PREPARED / "test.csv"), "-d", str(MODEL),
       "-M", str(METRICS), f"python {ME} evaluate")


def main():
    if len(sys.argv) > 1:
        {"prepare": prepare, "train": train, "evaluate": evaluate}[sys.argv[1]](params())
        return
    params()
    if not Path(".dvc").exists():
        sh("dvc", "init", "-q")
    sh("dvc", "remote", "add", "-f", "-d", "storage", "dvc-storage")
    declare()
    sh("dvc", "repro")
    sh("git", "add", "params.yaml", "dvc.yaml", "dvc.lock", str(METRICS), "data/.gitignore", "models/.gitignore",
       ".dvc/config", ".dvc/.gitignore", ".dvcignore")
    sh("git", "commit", "-q", "-m", "pipeline run by dvc repro")
    sh("dvc", "push")
    if not SHARED.exists():
        sh("git", "init", "-q", "--bare", str(SHARED))
        sh("git", "remote", "add", "origin", str(SHARED.resolve()))
    sh("git", "push", "-q", "origin", "HEAD")


if __name__ == "__main__":
    main()
