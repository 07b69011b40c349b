"""The Optuna checker's probe (installed into the sandbox's sitecustomize, see sandbox/probes.py).

It records the studies the script creates or loads (with their storage: a URL the checker can read back, or an
identity for an in-memory one), study.optimize / ask / tell with a summary of the study's trials after each, each
trial's parameters, and records every top-level training call (scikit-learn fit methods, keras.Model.fit and
train_on_batch, Lightning Trainer.fit, torch.optim steps) with the trial it ran in and the configuration it trained
under: estimator parameters, optimizer settings, module and layer attributes, hparams, fit arguments."""

PROBE = r'''
import functools as _abo_functools
import inspect as _abo_inspect
import os as _abo_os
import threading as _abo_threading

_abo_lock = _abo_threading.Lock()
# depth: study.optimize calls running (any thread); open: trials asked outside optimize and not yet told
_abo_state = {"depth": 0, "open": set(), "asked": {}, "trials": {}, "memories": 0, "phase": 0, "seen": set()}
_abo_fit_depth = _abo_threading.local()
# the events file is <workdir>/.adaptbench/<name>: paths are recorded relative to that work dir, so the
# harness finds them again whatever the script's cwd was and wherever the sandbox mounted the work dir
_abo_events = _abo_os.environ.get("ADAPTBENCH_EVENTS") or _abo_os.path.join(_abo_os.getcwd(), ".adaptbench", "x")
_abo_root = _abo_os.path.dirname(_abo_os.path.dirname(_abo_os.path.abspath(_abo_events)))


def _abo_in_study():
    return _abo_state["depth"] > 0 or bool(_abo_state["open"])


def _abo_rel(path):
    path = _abo_os.path.abspath(path)
    inside = path.startswith(_abo_root.rstrip("/") + "/")
    return _abo_os.path.relpath(path, _abo_root) if inside else None


def _abo_memory_id(storage):
    """A number for an in-memory storage, the same in every record: two in-memory studies may share a name."""
    with _abo_lock:
        if not hasattr(storage, "_abo_memory_id"):
            _abo_state["memories"] += 1
            storage._abo_memory_id = _abo_state["memories"]
    return storage._abo_memory_id


def _abo_describe_storage(storage):
    """(description or None, kind) of a study's storage, as the checker can find it again."""
    if storage is None:
        return None, "none"
    if type(storage).__name__ == "InMemoryStorage":
        return {"kind": "memory", "id": _abo_memory_id(storage)}, "memory"
    if isinstance(storage, str):
        url = storage
    else:
        inner = getattr(storage, "_backend", storage)  # optuna's _CachedStorage wraps an RDBStorage
        url = getattr(inner, "url", None)
        if url is None:
            return None, type(inner).__name__
    info = {"url": url, "kind": "url"}
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):].split("?")[0]
        info.update(kind="sqlite", path=_abo_os.path.abspath(path), rel=_abo_rel(path))
    return info, info["kind"]


def _abo_wrap_create_study(original):
    @_abo_functools.wraps(original)
    def create_study(*args, **kwargs):
        study = original(*args, **kwargs)
        info, kind = _abo_storage_info(study)
        _adaptbench_event("optuna_study", call="create_study", study=study.study_name, storage=info,
                          storage_kind=kind)
        return study
    create_study._abo_wrapped = True
    return create_study


def _abo_wrap_load_study(original):
    @_abo_functools.wraps(original)
    def load_study(*args, **kwargs):
        study = original(*args, **kwargs)
        info, kind = _abo_storage_info(study)
        _adaptbench_event("optuna_study", call="load_study", study=study.study_name, storage=info,
                          storage_kind=kind)
        return study
    load_study._abo_wrapped = True
    return load_study


def _abo_trial_summary(study):
    try:
        trials = study.get_trials(deepcopy=False)
    except Exception as exc:
        return {"summary_error": repr(exc)}
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    return {"n_trials": len(trials), "n_complete": len(complete),
            "n_complete_with_params": sum(1 for t in complete if t.params)}


def _abo_storage_info(study):
    return _abo_describe_storage(getattr(study, "_storage", None))


def _abo_storage_of(study):
    return _abo_storage_info(study)[0]


def _abo_current_trial():
    """(study name, trial number) of the trial the calling thread works for, if any."""
    current = getattr(_abo_fit_depth, "trial", None)
    if current is None and len(_abo_state["open"]) == 1:  # ask/tell by hand: the one open trial
        current = _abo_state["asked"].get(next(iter(_abo_state["open"])))
    return current


def _abo_best(study):
    """Best params: [one dict] for a single objective, the Pareto front's for several; [] before any."""
    try:
        if len(study.directions) == 1:
            best = study.best_trial
            return [best.params], best.number
        return [t.params for t in study.best_trials], None
    except Exception:
        return [], None


def _abo_end_event(kind, study):
    best, number = _abo_best(study)
    _adaptbench_event(kind, study=study.study_name, storage=_abo_storage_of(study), best_params=best,
                      best_number=number, **_abo_trial_summary(study))


def _abo_trial_event(study, trial):
    try:
        params = dict(trial.params)
    except Exception:
        return
    _adaptbench_event("optuna_trial", study=study.study_name, storage=_abo_storage_of(study), number=trial.number,
                      params=params)


def _abo_wrap_objective(study, func):
    @_abo_functools.wraps(func)
    def objective(trial, *args, **kwargs):
        outer = getattr(_abo_fit_depth, "trial", None)
        _abo_fit_depth.trial = (study.study_name, trial.number)
        try:
            return func(trial, *args, **kwargs)
        finally:
            _abo_fit_depth.trial = outer
            _abo_trial_event(study, trial)
    return objective


def _abo_patch_study_class(Study):
    optimize, ask, tell = Study.optimize, Study.ask, Study.tell

    @_abo_functools.wraps(optimize)
    def wrapped_optimize(self, *args, **kwargs):
        with _abo_lock:
            _abo_state["depth"] += 1
            _abo_state["phase"] += 1
        _adaptbench_event("optuna_optimize_begin", study=self.study_name)
        try:
            if args and callable(args[0]):
                args = (_abo_wrap_objective(self, args[0]),) + tuple(args[1:])
            elif callable(kwargs.get("func")):
                kwargs["func"] = _abo_wrap_objective(self, kwargs["func"])
        except Exception as exc:
            _adaptbench_event("probe_error", probe="optuna_hpo", error="objective wrapper: %r" % (exc,))
        try:
            return optimize(self, *args, **kwargs)
        finally:
            with _abo_lock:
                _abo_state["depth"] -= 1
                _abo_state["phase"] += 1
            _abo_end_event("optuna_optimize_end", self)

    @_abo_functools.wraps(ask)
    def wrapped_ask(self, *args, **kwargs):
        trial = ask(self, *args, **kwargs)
        if _abo_state["depth"] == 0:  # ask/tell interface used by hand
            with _abo_lock:
                key = (id(self), trial.number)
                _abo_state["open"].add(key)
                _abo_state["asked"][key] = (self.study_name, trial.number)
                _abo_state["trials"][key] = trial
                _abo_state["phase"] += 1
        return trial

    @_abo_functools.wraps(tell)
    def wrapped_tell(self, trial, *args, **kwargs):
        try:
            return tell(self, trial, *args, **kwargs)
        finally:
            number = trial if isinstance(trial, int) else getattr(trial, "number", None)
            key = (id(self), number)
            if key in _abo_state["open"]:
                with _abo_lock:
                    _abo_state["open"].discard(key)
                    _abo_state["asked"].pop(key, None)
                    asked = _abo_state["trials"].pop(key, None)
                    _abo_state["phase"] += 1
                if asked is not None:
                    _abo_trial_event(self, asked)
                _abo_end_event("optuna_tell", self)

    Study.optimize, Study.ask, Study.tell = wrapped_optimize, wrapped_ask, wrapped_tell


def _abo_patch_optuna(optuna):
    import optuna.study as study_pkg
    import optuna.study.study as study_mod
    create = _abo_wrap_create_study(study_mod.create_study)
    load = _abo_wrap_load_study(study_mod.load_study)
    for module in (optuna, study_pkg, study_mod):
        module.create_study, module.load_study = create, load
    _abo_patch_study_class(study_mod.Study)


# ------------------------------------------------ the configuration a training call used

_ABO_MAX_KEYS = 3000
_ABO_MAX_MODULES = 500


def _abo_scalar(value):
    """A JSON scalar for `value`, or the sentinel _abo_add when it is none (numpy/torch 0-d values unwrap)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value if len(value) <= 200 else _abo_add
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        try:
            item = value.item()
        except Exception:
            return _abo_add
        return item if isinstance(item, (bool, int, float)) else _abo_add
    return _abo_add


def _abo_add(config, key, value, nest=0):
    """Record `value` under `key` (a list of values: a key may hold several, e.g. Dense.units of each layer);
    tuples and lists of scalars add each item; dicts add their items under dotted keys, `nest` levels deep."""
    if len(config) >= _ABO_MAX_KEYS:
        return
    if isinstance(value, dict):
        if nest > 0:
            for k, v in list(value.items())[:50]:
                _abo_add(config, "%s.%s" % (key, k), v, nest - 1)
        return
    items = list(value)[:64] if isinstance(value, (list, tuple)) else [value]
    for item in items:
        scalar = _abo_scalar(item)
        if scalar is not _abo_add:
            values = config.setdefault(key, [])
            if scalar not in values and len(values) < 64:
                values.append(scalar)


def _abo_safe(build, *args):
    config = {}
    try:
        build(config, *args)
    except Exception as exc:
        config["probe.error"] = [repr(exc)[:200]]
    return config


def _abo_sklearn_config(config, estimator, depth=0):
    """Constructor parameters of an estimator and of every estimator inside it (pipelines, kernels, wrappers)."""
    if depth > 5:
        return
    try:
        params = estimator.get_params(deep=False)
    except Exception:
        return
    name = type(estimator).__name__
    for key, value in params.items():
        if hasattr(value, "get_params") and not isinstance(value, type):
            _abo_sklearn_config(config, value, depth + 1)
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, (list, tuple)) for v in value):
            for step in value:  # Pipeline.steps, ColumnTransformer.transformers: (name, estimator, ...)
                for item in step[1:]:
                    if hasattr(item, "get_params") and not isinstance(item, type):
                        _abo_sklearn_config(config, item, depth + 1)
        else:
            _abo_add(config, "%s.%s" % (name, key), value)


def _abo_optimizer_config(config, optimizer):
    _abo_add(config, "optimizer.class", type(optimizer).__name__)
    for group in getattr(optimizer, "param_groups", [])[:20]:
        for key, value in group.items():
            if key != "params":
                _abo_add(config, "optimizer." + str(key), value)


def _abo_module_config(config, root):
    """Scalar attributes of every module in the tree (layer sizes, dropout rates, a module's own settings)
    and a LightningModule's hparams."""
    for index, module in enumerate(root.modules()):
        if index >= _ABO_MAX_MODULES:
            break
        name = type(module).__name__
        for key, value in list(vars(module).items()):
            if not key.startswith("_") and key != "training":
                _abo_add(config, "%s.%s" % (name, key), value)
        hparams = getattr(type(module), "hparams", None) is not None and getattr(module, "hparams", None)
        if hparams:
            try:
                for key, value in dict(hparams).items():
                    _abo_add(config, "hparams." + str(key), value, nest=1)
            except Exception:
                pass


_abo_owner = {}  # id(parameter) -> (weakref to it, weakref to the module holding it)
_abo_parent = {}  # id(module) -> (weakref to it, weakref to the module holding it)


def _abo_remember(table, obj, holder):
    weakref = __import__("weakref")
    if len(table) > 500000:
        for key in [k for k, (ref, _) in table.items() if ref() is None]:
            table.pop(key, None)
    try:
        table[id(obj)] = (weakref.ref(obj), weakref.ref(holder))
    except TypeError:
        pass


def _abo_holder(table, obj):
    entry = table.get(id(obj))
    return entry[1]() if entry is not None and entry[0]() is obj else None


def _abo_roots(optimizer):
    """The outermost modules owning the parameters an optimizer updates."""
    roots = {}
    for group in getattr(optimizer, "param_groups", []):
        for param in group.get("params", []):
            module = _abo_holder(_abo_owner, param)
            for _ in range(64):
                parent = None if module is None else _abo_holder(_abo_parent, module)
                if parent is None:
                    break
                module = parent
            if module is not None:
                roots[id(module)] = module
        if len(roots) > 20:
            break
    return list(roots.values())


def _abo_torch_config(config, optimizer):
    _abo_optimizer_config(config, optimizer)
    for root in _abo_roots(optimizer):
        _abo_module_config(config, root)


def _abo_bound(func, args, kwargs):
    try:
        return _abo_inspect.signature(func).bind(*args, **kwargs).arguments
    except (TypeError, ValueError):
        return {}


def _abo_keras_config(config, model, func, args, kwargs):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        _abo_add(config, "optimizer.class", type(optimizer).__name__)
        for key, value in optimizer.get_config().items():
            if key != "name":
                _abo_add(config, "optimizer." + key, value, nest=2)  # a learning-rate schedule is a dict
    try:
        layers = list(model._flatten_layers(include_self=False, recursive=True))
    except Exception:
        layers = list(getattr(model, "layers", []))
    for layer in [model] + layers[:_ABO_MAX_MODULES]:
        name = type(layer).__name__
        try:
            items = list(layer.get_config().items()) if layer is not model else []
        except Exception:
            items = []
        items += [(k, v) for k, v in vars(layer).items() if not k.startswith("_")]
        for key, value in items:
            if key not in ("name", "dtype", "trainable", "built"):
                _abo_add(config, "%s.%s" % (name, key), value)
    bound = _abo_bound(func, args, kwargs)
    for key in ("epochs", "batch_size"):
        if key in bound:
            _abo_add(config, "fit." + key, bound[key])


def _abo_lightning_config(config, trainer, func, args, kwargs):
    bound = _abo_bound(func, args, kwargs)
    model = bound.get("model")
    if model is not None and hasattr(model, "modules"):
        _abo_module_config(config, model)
    for optimizer in list(getattr(trainer, "optimizers", None) or [])[:8]:
        _abo_optimizer_config(config, optimizer)
    for key in ("max_epochs", "max_steps"):
        _abo_add(config, "trainer." + key, getattr(trainer, key, None))
    for key in ("train_dataloaders", "datamodule"):
        holder = bound.get(key)
        if holder is not None:
            _abo_add(config, "data.batch_size", getattr(holder, "batch_size", None))
            if key == "datamodule":
                for k, v in list(vars(holder).items()):
                    if not k.startswith("_"):
                        _abo_add(config, "%s.%s" % (type(holder).__name__, k), v)


# ------------------------------------------------ training calls


def _abo_once(key):
    """True the first time `key` is seen (bounded: a script that makes optimizers in a loop stays cheap)."""
    seen = _abo_state["seen"]
    if key in seen or len(seen) > 20000:
        return False
    seen.add(key)
    return True


def _abo_emit_fit(framework, target, in_study, trial, start, predictor, config):
    _adaptbench_event("fit", framework=framework, target=target, in_study=in_study, trial=trial, start=start,
                      predictor=predictor, config=config)


def _abo_record_fit(framework, target, func, args, kwargs, predictor=True, before=None, after=None, once=None):
    """Call a training entry point; if it is the outermost one in this thread, record it with the configuration
    it trains under (`before`: read before the call, `after`: once it returns, as (config, *args) builders)."""
    if getattr(_abo_fit_depth, "n", 0):
        return func(*args, **kwargs)
    in_study, start = _abo_in_study(), __import__("time").time()
    trial = _abo_current_trial() if in_study else None
    record = once is None or _abo_once((once, _abo_state["phase"], trial))
    config = _abo_safe(*before) if record and before else {}
    _abo_fit_depth.n = 1
    try:
        result = func(*args, **kwargs)
    finally:
        _abo_fit_depth.n = 0
    if record:
        if after:
            config.update(_abo_safe(*after))
        _abo_emit_fit(framework, target, in_study, trial, start, predictor, config)
    return result


def _abo_wrap_fit(framework, func):
    if getattr(func, "_abo_wrapped", False):
        return func

    @_abo_functools.wraps(func)
    def fit(self, *args, **kwargs):
        before = after = once = None
        # a scaler or encoder fitted after the study is preprocessing, not the final model
        predictor = framework != "sklearn" or hasattr(self, "predict")
        if framework == "sklearn":
            before = (_abo_sklearn_config, self)
        elif framework == "keras":
            before = (_abo_keras_config, self, func, (self,) + args, kwargs)
            if func.__name__ == "train_on_batch":  # one record per model and trial, not one per batch
                once = ("keras-batch", id(self))
        elif framework == "lightning":
            after = (_abo_lightning_config, self, func, (self,) + args, kwargs)
        return _abo_record_fit(framework, type(self).__name__, func, (self,) + args, kwargs, predictor,
                               before, after, once)
    fit._abo_wrapped = True
    return fit


_ABO_SKLEARN_METHODS = ("fit", "partial_fit", "fit_transform", "fit_predict")


def _abo_wrap_sklearn_class(cls):
    for name in _ABO_SKLEARN_METHODS:
        func = cls.__dict__.get(name)
        if _abo_inspect.isfunction(func):  # leave descriptors (e.g. available_if) and inherited methods alone
            setattr(cls, name, _abo_wrap_fit("sklearn", func))


def _abo_patch_sklearn_base(base):
    """Every estimator class defined from now on gets its own fit methods wrapped as it is created."""
    estimator = base.BaseEstimator
    own = estimator.__dict__.get("__init_subclass__")
    own = own.__func__ if isinstance(own, classmethod) else None

    def __init_subclass__(cls, **kwargs):
        if own is not None:
            own(cls, **kwargs)
        else:
            super(estimator, cls).__init_subclass__(**kwargs)
        try:
            _abo_wrap_sklearn_class(cls)
        except Exception as exc:
            _adaptbench_event("probe_error", probe="optuna_hpo", error="sklearn %s: %r" % (cls.__name__, exc))

    estimator.__init_subclass__ = classmethod(__init_subclass__)


def _abo_patch_method(framework, cls, name="fit"):
    setattr(cls, name, _abo_wrap_fit(framework, getattr(cls, name)))


def _abo_patch_keras(keras):
    _abo_patch_method("keras", keras.Model)
    _abo_patch_method("keras", keras.Model, "train_on_batch")  # Keras on torch never steps torch.optim


def _abo_patch_torch(torch):
    """Plain PyTorch loops have no fit(): one record per optimizer and phase (each trial, the final training)."""
    def after_step(optimizer, args, kwargs):
        if getattr(_abo_fit_depth, "n", 0):
            return
        in_study = _abo_in_study()
        trial = _abo_current_trial() if in_study else None
        if _abo_once(("torch", id(optimizer), _abo_state["phase"], trial)):
            _abo_emit_fit("torch", type(optimizer).__name__, in_study, trial, __import__("time").time(), True,
                          _abo_safe(_abo_torch_config, optimizer))
    modules = __import__("importlib").import_module("torch.nn.modules.module")
    modules.register_module_parameter_registration_hook(
        lambda module, name, param: None if param is None else _abo_remember(_abo_owner, param, module))
    modules.register_module_module_registration_hook(
        lambda module, name, child: None if child is None else _abo_remember(_abo_parent, child, module))
    __import__("importlib").import_module("torch.optim.optimizer").register_optimizer_step_post_hook(after_step)


_adaptbench_on_import("optuna", _abo_patch_optuna)
_adaptbench_on_import("sklearn.base", _abo_patch_sklearn_base)
_adaptbench_on_import("keras", _abo_patch_keras)
_adaptbench_on_import("lightning.pytorch", lambda m: _abo_patch_method("lightning", m.Trainer))
_adaptbench_on_import("pytorch_lightning", lambda m: _abo_patch_method("lightning", m.Trainer))
_adaptbench_on_import("torch", _abo_patch_torch)
'''
