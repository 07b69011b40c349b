"""A second correct translation of version_data_and_model.py: DVC's Python API, each data file tracked on
its own (not the folder), the LFS rule removed, a lightweight tag."""

import json
import os
from pathlib import Path

import joblib
from dvc.repo import Repo as DvcRepo
from git import Repo
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

FILES = ["data/train.csv", "data/test.csv", "models/wine_rf.joblib"]
TREES = 20 if os.environ.get("ADAPTBENCH_SMOKE") == "1" else 300


def build_artifacts():
    frame = load_wine(as_frame=True).frame
    train, test = train_test_split(frame, test_size=0.25, random_state=7, stratify=frame["target"])
    Path("data").mkdir(exist_ok=True)
    Path("models").mkdir(exist_ok=True)
    train.to_csv("data/train.csv", index=False)
    test.to_csv("data/test.csv", index=False)
    model = RandomForestClassifier(n_estimators=TREES, random_state=7).fit(train.drop(columns="target"), train["target"])
    joblib.dump(model, "models/wine_rf.joblib")
    accuracy = float((model.predict(test.drop(columns="target")) == test["target"]).mean())
    Path("metrics.json").write_text(json.dumps({"accuracy": accuracy}))


def main():
    build_artifacts()
    repo = Repo(".")
    remote_dir = Path("remotes/wine-model.git")
    if not remote_dir.exists():
        Repo.init(remote_dir, bare=True)
        repo.create_remote("origin", str(remote_dir.resolve()))
    dvc = DvcRepo.init(".")
    with dvc.config.edit() as conf:
        conf["remote"]["storage"] = {"url": "./dvc-storage"}
        conf["core"]["remote"] = "storage"
    for path in FILES:
        dvc.add(path)
    repo.git.add(*[f"{p}.dvc" for p in FILES], "data/.gitignore", "models/.gitignore", "metrics.json",
                 ".dvc/config", ".dvc/.gitignore", ".dvcignore")
    repo.git.commit("-m", "Release v1.0")
    repo.create_tag("v1.0")
    dvc.push(remote="storage")
    repo.git.push("origin", repo.active_branch.name, "v1.0")


if __name__ == "__main__":
    main()
