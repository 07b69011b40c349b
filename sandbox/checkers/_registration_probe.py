"""The MLflow registration checker's probes: load a registered model version back and predict with it, inside
the sandbox (unpickling a model runs its code). Both run LIBRARY (load, find an input, predict).

- The fresh probe (`fresh_probe_source`): a new sandboxed interpreter after the run, handed the versions the
  harness found in the stores. It meets what anyone loading the model elsewhere meets, and pays for it: 10-13 s
  for a scikit-learn model here, nearly all of it importing MLflow, scikit-learn and skops again.
- The warm probe (`warm_probe_source`, sandbox/checkers/_warm.py): forked at the script's start-up, it imports
  MLflow and the flavour of the task's framework while the script trains; at the script's exit it is sent the
  tracking and registry URIs the script ended with, and loads the newest ready versions as the fresh probe would.

The checker takes the warm probe's pass when it names a version the harness found in the stores itself; anything
else (no record, a failure, another version) goes to the fresh probe.
"""

from __future__ import annotations

import json
from typing import Any

from ._warm import warm_record, warm_source

WARM_EVENT = "mlflow_registration_probe"

# What the warm probe imports while the script trains: MLflow's loader and registry store, and the flavour the task
# framework's models are logged with (scikit-learn models are stored with skops; Keras runs on torch here).
COMMON_IMPORTS = ("mlflow.pyfunc", "mlflow.artifacts", "mlflow.store.tracking.sqlalchemy_store",
                  "mlflow.store.model_registry.sqlalchemy_store")
FLAVOUR_IMPORTS = {
    "sklearn": ("mlflow.sklearn", "skops.io"),
    "keras": ("mlflow.keras", "keras"),
    "pytorch": ("mlflow.pytorch",),
    "lightning": ("mlflow.pytorch", "lightning"),
}

LIBRARY = r'''
import json, os, sys
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"


def synthetic_input(meta, args):
    import numpy as np
    sig = meta.signature
    if sig is not None and sig.inputs is not None and len(sig.inputs.inputs):
        if sig.inputs.is_tensor_spec():
            arrays = {s.name: np.zeros([2 if d in (-1, None) else d for d in s.shape], dtype=s.type)
                      for s in sig.inputs.inputs}
            if len(arrays) == 1 and not sig.inputs.has_input_names():
                return next(iter(arrays.values())), "signature"
            return arrays, "signature"
        import pandas as pd
        cols = {}
        for i, s in enumerate(sig.inputs.inputs):
            try:
                cols[s.name or i] = np.zeros(2, dtype=s.type.to_numpy())
            except Exception:
                cols[s.name or i] = ["a", "a"]
        return pd.DataFrame(cols), "signature"
    if args.get("input_shape"):
        rng = np.random.default_rng(0)
        return rng.random(args["input_shape"]).astype(args["input_dtype"]), "task args"
    return None, None


def output_shape(y):
    import numpy as np
    if hasattr(y, "to_numpy"):
        y = y.to_numpy()
    if isinstance(y, dict):
        return {k: list(np.asarray(v).shape) for k, v in y.items()}
    arr = np.asarray(y)
    if arr.size == 0:
        raise ValueError("the prediction is empty")
    return list(arr.shape)


def predict_only(local):
    """Keras models load for inference without their training configuration (compile=False), as a user
    serving them does: a custom loss or metric is needed to train, not to predict. Custom layers still load
    only if they are registered (keras.saving.register_keras_serializable)."""
    from mlflow.models import Model
    try:
        flavors = Model.load(os.path.join(local, "MLmodel")).flavors
    except Exception:
        return
    if "keras" not in flavors:
        return
    import mlflow.keras.load as keras_load
    original = getattr(keras_load, "_load_keras_model", None)
    if original is None or getattr(original, "_predict_only", False):
        return

    def load(path, model_conf, custom_objects=None, **kwargs):
        kwargs.setdefault("compile", False)
        return original(path, model_conf, custom_objects, **kwargs)
    load._predict_only = True
    keras_load._load_keras_model = load


def unregistered_classes(error):
    """Keras names a class it could not rebuild in its error's config dump, with no module (not registered)."""
    import re
    return sorted(set(re.findall(r"\{'module': None, 'class_name': '(\w+)'", error)))


def attempt(c):
    import mlflow
    mlflow.set_tracking_uri(c["store_uri"])
    mlflow.set_registry_uri(c["store_uri"])
    uri = f"models:/{c['name']}/{c['version']}"
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri)
        predict_only(local)
        model = mlflow.pyfunc.load_model(local, suppress_warnings=True)  # the pip check costs 2 s, shows nothing
    except BaseException as exc:
        return {"stage": "load", "error": repr(exc)[:800], "unregistered": unregistered_classes(str(exc))}
    try:
        x = model.metadata.load_input_example(local)
        source = "input example"
        if x is None:
            x, source = synthetic_input(model.metadata, P["args"])
    except BaseException as exc:
        x, source = synthetic_input(model.metadata, P["args"])
    if x is None:
        return {"stage": "input", "error": "the model has no input example or signature, and the task gives no input_shape"}
    try:
        shape = output_shape(model.predict(x))
    except BaseException as exc:
        return {"stage": "predict", "error": repr(exc)[:800], "input_from": source}
    return {"stage": "done", "input_from": source, "output_shape": shape}
'''

# The fresh probe's parameters arrive as one JSON string literal: nothing read from the store is ever pasted into
# the source as code.
FRESH_MAIN = r'''
P = json.loads(__PARAMS__)


def emit(answer):
    """The probe's answer to the harness: one JSON line on stdout, flushed (the last line wins)."""
    sys.stdout.write(json.dumps(answer, default=str) + "\n")
    sys.stdout.flush()


attempts = []
for c in P["candidates"]:
    # written first, so that if loading kills the process (crash, exit, time limit) this is the last word
    died = {"stage": "load", "error": "the process ended while loading or calling this model (crash, exit "
            "or time limit)", "name": c["name"], "version": c["version"]}
    emit({"ok": False, "attempts": attempts + [died]})
    result = attempt(c)
    result.update(name=c["name"], version=c["version"])
    if result["stage"] == "done":
        emit({"ok": True, **result})
        sys.exit(0)
    attempts.append(result)
emit({"ok": False, "attempts": attempts})
'''

WARM = r'''
def _abr_go():
    import sys
    mlflow = sys.modules.get("mlflow")
    if mlflow is None:
        return None  # the script never imported MLflow: it registered nothing
    return {"tracking_uri": mlflow.get_tracking_uri(), "registry_uri": mlflow.get_registry_uri()}


def _abr_work(go, params):
    """The newest ready versions in the script's registry, loaded as the fresh probe loads them."""
    import os
    registry = go["registry_uri"]
    if registry.startswith("sqlite:///") and not os.path.isfile(registry[len("sqlite:///"):].split("?")[0]):
        return None  # opening it would create an empty store in the work dir
    namespace = {"__name__": "_adaptbench_registration", "P": {"args": params["args"]}}
    exec(params["library"], namespace)
    import mlflow
    client = mlflow.MlflowClient(tracking_uri=go["tracking_uri"], registry_uri=registry)
    versions = [v for v in client.search_model_versions(max_results=10000)
                if v.status == "READY" and params["name"] in (None, v.name)]
    versions.sort(key=lambda v: int(v.version) if str(v.version).isdigit() else 0, reverse=True)
    attempts = []
    for v in versions[:params["max_versions"]]:
        result = namespace["attempt"]({"store_uri": registry, "name": v.name, "version": str(v.version)})
        result.update(name=v.name, version=str(v.version))
        if result["stage"] == "done":
            return {"ok": True, **result}
        attempts.append(result)
    return {"ok": False, "attempts": attempts}


_abw_start(__EVENT__, __PARAMS__, _abr_go, _abr_work, trigger="mlflow")
'''


def fresh_probe_source(candidates: list[dict[str, str]], args: dict[str, Any]) -> str:
    """A probe script that tries `candidates` (store_uri, name, version) in order, printing its answer as JSON."""
    params = {"candidates": candidates, "args": args}
    return LIBRARY + FRESH_MAIN.replace("__PARAMS__", repr(json.dumps(params)))


def warm_probe_source(framework: str, name: str | None, args: dict[str, Any], max_versions: int) -> str:
    imports = [*COMMON_IMPORTS, *FLAVOUR_IMPORTS.get(framework, ())]
    return warm_source(WARM, WARM_EVENT, imports, {"name": name, "args": args, "max_versions": max_versions,
                                                   "library": LIBRARY})


def warm_pass(events: list[dict[str, Any]], found: set[tuple[str, str]]) -> dict[str, Any] | None:
    """The warm probe's report, when it passed on a (name, version) the harness found in the stores."""
    report = warm_record(events, WARM_EVENT)
    if report and report.get("ok") and (report.get("name"), report.get("version")) in found:
        return {**report, "probe": "warm"}
    return None
