"""A three-stage training pipeline run and versioned by DVC; git keeps the code, the pipeline files and metrics.

prepare -> train -> evaluate on the breast-cancer dataset bundled with scikit-learn, declared as DVC stages in
dvc.yaml (each stage runs this script with the stage's name). `dvc repro` runs the stages whose dependencies,
parameters (params.yaml) or outputs changed and records their hashes in dvc.lock. The prepared data and the model
are DVC outputs, cached and pushed to the DVC remote; params.yaml, dvc.yaml, dvc.lock and metrics.json are
committed to git and pushed to the shared repository under remotes/.
"""

import json
import logging
import os
import sys
from pathlib import Path

import joblib
import pandas as pd
import yaml
from dvc.repo import Repo as DvcRepo
from git import Repo
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
log = logging.getLogger("version_pipeline")

SMOKE = os.environ.get("ADAPTBENCH_SMOKE") == "1"
PARAMS_FILE, PIPELINE_FILE, LOCK_FILE = Path("params.yaml"), Path("dvc.yaml"), Path("dvc.lock")
PREPARED = Path("data/prepared")
TRAIN_CSV, TEST_CSV = PREPARED / "train.csv", PREPARED / "test.csv"
MODEL_FILE = Path("models/model.joblib")
METRICS_FILE = Path("metrics.json")
SHARED_REPO = Path("remotes/cancer-pipeline.git")
DVC_REMOTE, DVC_STORAGE = "storage", "dvc-storage"
SCRIPT = Path(__file__).name
DEFAULT_PARAMS = {"prepare": {"test_size": 0.25, "seed": 42},
                  "train": {"C": 1.0, "max_iter": 100 if SMOKE else 1000}}


def load_params() -> dict:
    if not PARAMS_FILE.exists():
        PARAMS_FILE.write_text(yaml.safe_dump(DEFAULT_PARAMS, sort_keys=False))
    return yaml.safe_load(PARAMS_FILE.read_text())


# ---------------------------------------------------------------- the stages


def prepare(params: dict) -> None:
    frame = load_breast_cancer(as_frame=True).frame
    train, test = train_test_split(frame, test_size=params["prepare"]["test_size"],
                                   random_state=params["prepare"]["seed"], stratify=frame["target"])
    PREPARED.mkdir(parents=True, exist_ok=True)
    train.to_csv(TRAIN_CSV, index=False)
    test.to_csv(TEST_CSV, index=False)


def train(params: dict) -> None:
    data = pd.read_csv(TRAIN_CSV)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=params["train"]["C"],
                                                               max_iter=params["train"]["max_iter"]))
    model.fit(data.drop(columns="target"), data["target"])
    MODEL_FILE.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, MODEL_FILE)


def evaluate(params: dict) -> None:
    data = pd.read_csv(TEST_CSV)
    model = joblib.load(MODEL_FILE)
    X, y = data.drop(columns="target"), data["target"]
    metrics = {"accuracy": accuracy_score(y, model.predict(X)),
               "roc_auc": roc_auc_score(y, model.predict_proba(X)[:, 1])}
    METRICS_FILE.write_text(json.dumps(metrics, indent=2))


STAGES = [  # name, function, file dependencies, parameter groups, outputs
    ("prepare", prepare, [], ["prepare"], [TRAIN_CSV, TEST_CSV]),
    ("train", train, [TRAIN_CSV], ["train"], [MODEL_FILE]),
    ("evaluate", evaluate, [TEST_CSV, MODEL_FILE], [], [METRICS_FILE]),
]


# ---------------------------------------------------------------- the DVC pipeline (dvc.yaml + dvc.lock)


def write_pipeline(params: dict) -> None:
    """dvc.yaml: one stage per function; DVC skips a stage whose deps, params and outs match dvc.lock."""
    stages = {}
    for name, _func, deps, groups, outs in STAGES:
        stage = {"cmd": f"python {SCRIPT} {name}", "deps": [SCRIPT, *map(str, deps)]}
        if groups:
            stage["params"] = [f"{group}.{key}" for group in groups for key in params[group]]
        cached = [str(PREPARED) if p.parent == PREPARED else str(p) for p in outs if p != METRICS_FILE]
        if cached:
            stage["outs"] = sorted(set(cached))
        if METRICS_FILE in outs:
            stage["metrics"] = [{str(METRICS_FILE): {"cache": False}}]  # small, kept in git
        stages[name] = stage
    PIPELINE_FILE.write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))


def run_stage(name: str) -> None:
    """What `dvc repro` runs for one stage."""
    func = {stage[0]: stage[1] for stage in STAGES}[name]
    func(load_params())


def run_pipeline(dvc: DvcRepo) -> None:
    changed = dvc.reproduce()
    log.info("dvc repro ran %d stage(s): %s", len(changed), ", ".join(s.addressing for s in changed) or "none")


# ---------------------------------------------------------------- versioning the results


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


def commit_results(repo: Repo, dvc: DvcRepo) -> str:
    """Git gets the pipeline, its lock, the parameters and metrics; the data and the model go to the DVC remote."""
    repo.index.add([str(PARAMS_FILE), str(PIPELINE_FILE), str(LOCK_FILE), str(METRICS_FILE),
                    str(PREPARED.parent / ".gitignore"), str(MODEL_FILE.parent / ".gitignore"),
                    ".dvc/config", ".dvc/.gitignore", ".dvcignore"])
    metrics = json.loads(METRICS_FILE.read_text())
    commit = repo.index.commit(f"pipeline: accuracy {metrics['accuracy']:.3f}, ROC AUC {metrics['roc_auc']:.3f}")
    log.info("pushed %d file(s) to DVC remote '%s'", dvc.push(), DVC_REMOTE)
    branch = repo.active_branch.name
    repo.remote("origin").push(refspec=f"{branch}:{branch}").raise_if_error()
    return commit.hexsha


def main() -> None:
    if len(sys.argv) > 1:  # called by `dvc repro` for one stage
        run_stage(sys.argv[1])
        return
    repo, dvc = open_repositories()
    write_pipeline(load_params())
    run_pipeline(dvc)
    run_pipeline(dvc)  # a second run finds nothing to do
    log.info("results committed as %s", commit_results(repo, dvc)[:8])


if __name__ == "__main__":
    main()
