"""A three-stage training pipeline whose results are versioned with Git (GitPython).

prepare -> train -> evaluate on the breast-cancer dataset bundled with scikit-learn. Each stage declares the
files and parameters it depends on and the files it produces; a stage whose dependencies are unchanged since the
last run (fingerprints kept in pipeline.lock.json) is skipped. Parameters live in params.yaml. After the run,
the parameters, the lock file, the prepared data, the model and the metrics are committed together and pushed
to the shared repository under remotes/.
"""

import hashlib
import json
import logging
import os
from pathlib import Path

import joblib
import pandas as pd
import yaml
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
PARAMS_FILE, LOCK_FILE = Path("params.yaml"), Path("pipeline.lock.json")
PREPARED = Path("data/prepared")
TRAIN_CSV, TEST_CSV = PREPARED / "train.csv", PREPARED / "test.csv"
MODEL_FILE = Path("models/model.joblib")
METRICS_FILE = Path("metrics.json")
SHARED_REPO = Path("remotes/cancer-pipeline.git")
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


# ---------------------------------------------------------------- running only what changed


def file_hash(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def fingerprint(deps: list[Path], groups: list[str], params: dict) -> str:
    state = {"code": file_hash(Path(__file__)), "deps": {str(p): file_hash(p) for p in deps},
             "params": {g: params[g] for g in groups}}
    return hashlib.md5(json.dumps(state, sort_keys=True).encode()).hexdigest()


def run_pipeline(params: dict) -> None:
    lock = json.loads(LOCK_FILE.read_text()) if LOCK_FILE.exists() else {}
    for name, func, deps, groups, outs in STAGES:
        key = fingerprint(deps, groups, params)
        recorded = lock.get(name, {})
        if recorded.get("fingerprint") == key and all(
                p.exists() and file_hash(p) == recorded["outs"].get(str(p)) for p in outs):
            log.info("stage %s: unchanged, skipped", name)
            continue
        log.info("stage %s: running", name)
        func(params)
        lock[name] = {"fingerprint": key, "outs": {str(p): file_hash(p) for p in outs}}
    LOCK_FILE.write_text(json.dumps(lock, indent=2))


# ---------------------------------------------------------------- versioning the results


def open_repository() -> Repo:
    repo = Repo(".")
    if not SHARED_REPO.exists():
        Repo.init(SHARED_REPO, bare=True)
    if "origin" not in [remote.name for remote in repo.remotes]:
        repo.create_remote("origin", str(SHARED_REPO.resolve()))
    return repo


def commit_results(repo: Repo) -> str:
    repo.index.add([str(PARAMS_FILE), str(LOCK_FILE), str(TRAIN_CSV), str(TEST_CSV), str(MODEL_FILE),
                    str(METRICS_FILE)])
    metrics = json.loads(METRICS_FILE.read_text())
    commit = repo.index.commit(f"pipeline: accuracy {metrics['accuracy']:.3f}, ROC AUC {metrics['roc_auc']:.3f}")
    branch = repo.active_branch.name
    repo.remote("origin").push(refspec=f"{branch}:{branch}").raise_if_error()
    return commit.hexsha


def main() -> None:
    repo = open_repository()
    params = load_params()
    run_pipeline(params)
    run_pipeline(params)  # a second run finds nothing to do
    log.info("results committed as %s", commit_results(repo)[:8])


if __name__ == "__main__":
    main()
