"""Checkers: one per functionality/component, judging from artifacts left in real stores."""

from .base import CHECKERS, CheckContext, Checker, NoArgs, checker

# Built-in checkers register lazily, exactly as a plugin would: "module:Class".
for _name, _target in {
    "behaviour": "sandbox.checkers.behaviour:BehaviourChecker",
    "mlflow_tracking": "sandbox.checkers.mlflow_checks:MlflowTrackingChecker",
    "mlflow_registration": "sandbox.checkers.mlflow_checks:MlflowRegistrationChecker",
    "wandb_tracking": "sandbox.checkers.wandb_checks:WandbTrackingChecker",
    "optuna_hpo": "sandbox.checkers.optuna_checks:OptunaHpoChecker",
    "pruning": "sandbox.checkers.pruning_checks:PruningChecker",
    "dvc_tracking": "sandbox.checkers.dvc_checks:DvcTrackingChecker",
}.items():
    CHECKERS.add(_name, _target)

__all__ = ["CHECKERS", "CheckContext", "Checker", "NoArgs", "checker"]
