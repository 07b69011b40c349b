import pytest

from benchmark.errors import AdaptbenchError, UnknownNameError
from benchmark.registry import Registry


class Base:
    pass


def test_register_and_get():
    reg = Registry("widget", Base)

    @reg.register("a")
    class A(Base):
        pass

    assert reg.get("a") is A and reg.names() == ["a"]


def test_unknown_name_suggests_close_matches():
    reg = Registry("widget", Base)
    reg.add("mlflow_tracking", type("T", (Base,), {}))
    with pytest.raises(UnknownNameError) as exc:
        reg.get("mlflow_trackin")
    assert "did you mean mlflow_tracking" in exc.value.hint


def test_refuses_duplicates_and_wrong_base():
    reg = Registry("widget", Base)
    reg.add("a", type("A", (Base,), {}))
    with pytest.raises(AdaptbenchError, match="already registered"):
        reg.add("a", type("B", (Base,), {}))
    with pytest.raises(AdaptbenchError, match="not a subclass"):
        reg.add("c", int)


def test_lazy_entry_imports_on_lookup():
    reg = Registry("thing", object)
    reg.add("ordered", "collections:OrderedDict")
    from collections import OrderedDict

    assert reg.get("ordered") is OrderedDict
