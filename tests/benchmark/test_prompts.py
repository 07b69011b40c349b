"""Prompt rendering: every template in every setting, DocPrompt manuals, translation document slots, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmark.errors import AdaptbenchError, UnknownNameError
from benchmark.prompts import available_templates, default_prompts_dir, load_manual, render_prompt, template_for
from benchmark.types import CheckSpec, Setting, Task

INPUT_CODE = '''import torch
from torch import nn


def train(model, epochs=2):
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(epochs):
        loss = model(torch.randn(4, 3)).pow(2).mean()
        opt.zero_grad(); loss.backward(); opt.step()
        print(f"epoch {epoch}: loss={loss.item():.3f}")


if __name__ == "__main__":
    train(nn.Linear(3, 1))
'''
INSTRUCTION = "Use the name 'synthetic-unit-test-7f3a' for the experiment and the registered model."
DOCS_X = [{"title": "Repo.index.add", "text": "Adds files to the index of a GitPython repository.",
           "source": "https://gitpython.example/index"}]
DOCS_Y = [{"title": "dvc add", "text": "Tracks a data file with DVC and writes a .dvc file.",
           "source": "https://dvc.example/add"},
          {"title": "dvc push", "text": "Uploads tracked data to the default remote.", "source": ""}]


@pytest.fixture
def make_task(tmp_path):
    def make(category="inlining", functionality="experiment_tracking", component="mlflow", source=None,
             framework="pytorch", code=INPUT_CODE, instruction=INSTRUCTION) -> Task:
        folder = tmp_path / f"{category}-{functionality}-{component}-{source}"
        folder.mkdir(exist_ok=True)
        (folder / "train.py").write_text(code)
        (folder / "reference.py").write_text(code)
        return Task(id=folder.name, version=1, category=category, functionality=functionality, component=component,
                    source_component=source, framework=framework, title="synthetic task", instruction=instruction,
                    input_path=folder / "train.py", reference_path=folder / "reference.py", entrypoint="train.py",
                    checks=(CheckSpec(name="behaviour"),), input_fails_with="x", folder=folder)
    return make


def _task_for(spec, make_task) -> Task:
    return make_task(spec.category.value, spec.functionality.value, spec.component.value,
                     spec.source_component.value if spec.source_component else None)


def _user(prompt) -> str:
    roles = [m["role"] for m in prompt.messages]
    assert roles == ["system", "user"]
    return prompt.messages[1]["content"]


SPECS = available_templates()
SPEC_IDS = [s.describe() for s in SPECS]


def test_every_functionality_component_of_the_study_has_a_template():
    described = set(SPEC_IDS)
    assert described == {
        "inlining/experiment_tracking/mlflow", "inlining/experiment_tracking/wandb",
        "inlining/model_registration/mlflow", "inlining/hyperparameter_optimization/optuna",
        "inlining/model_optimization/nncf", "inlining/model_optimization/torch_prune",
        "translation/version_control/gitpython->dvc", "translation/experiment_tracking/wandb->mlflow",
        "translation/experiment_tracking/mlflow->wandb",
    }


@pytest.mark.parametrize("setting", list(Setting), ids=lambda s: s.value)
@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_renders_with_code_instruction_and_answer_header(spec, setting, make_task):
    prompt = render_prompt(_task_for(spec, make_task), setting)
    user = _user(prompt)
    assert INPUT_CODE.strip() in user
    assert INSTRUCTION in user
    assert user.index("##Code:") < user.index(INPUT_CODE.strip())
    assert user.rstrip().endswith("##Modified Code:")
    assert "COMPLETE" in user and "```python" in user
    assert "```python" in prompt.messages[0]["content"]
    assert prompt.setting is setting and prompt.retrieval == "none" and prompt.retrieved == ()
    assert "\n\n\n" not in user.split("##Code:")[0]  # no stray blank lines from template logic


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_docprompt_adds_the_manual_and_zero_shot_does_not(spec, make_task):
    task = _task_for(spec, make_task)
    manual = load_manual(spec.manual).strip()
    zero, doc = _user(render_prompt(task, "zero-shot")), _user(render_prompt(task, Setting.docprompt))
    assert manual in doc and "<manual>" in doc
    assert "<manual>" not in zero and manual.splitlines()[0] not in zero
    # same instructions: everything of the zero-shot prompt before the details is in the DocPrompt too
    assert zero.split("Task-specific details")[0] in doc


def test_manuals_exist_and_have_a_useful_length():
    for spec in SPECS:
        lines = load_manual(spec.manual).splitlines()
        assert 30 <= len(lines) <= 80, (spec.manual, len(lines))
        assert (default_prompts_dir() / spec.template).is_file()


def test_manuals_follow_the_pinned_apis():
    nncf, sklearn = load_manual("nncf-pruning"), load_manual("mlflow-registration")
    assert "nncf.prune(" in nncf and "MultiStepMagnitudePruningScheduler" in nncf
    assert "create_compressed_model" in nncf and "removed" in nncf  # named only as what not to use
    assert 'serialization_format="cloudpickle"' in sklearn and "registered_model_name" in sklearn


@pytest.mark.parametrize("setting", list(Setting), ids=lambda s: s.value)
@pytest.mark.parametrize("framework", ["sklearn", "keras", "lightning", "pytorch"])
def test_registration_prompt_stresses_unless(setting, framework, make_task):
    user = _user(render_prompt(make_task("inlining", "model_registration", "mlflow", framework=framework), setting))
    assert "NOT registered" in user and "UNLESS" in user and "registered_model_name" in user
    flavour = {"sklearn": "sklearn", "keras": "keras"}.get(framework, "pytorch")
    assert f"mlflow.{flavour}.log_model" in user


@pytest.mark.parametrize(("functionality", "component", "emphasis"), [
    ("hyperparameter_optimization", "optuna", "RETRAIN"),
    ("model_optimization", "nncf", "DURING training"),
    ("model_optimization", "torch_prune", "DURING training"),
])
def test_inlining_prompts_stress_what_models_miss(functionality, component, emphasis, make_task):
    assert emphasis in _user(render_prompt(make_task("inlining", functionality, component), "zero-shot"))


def test_tracking_prompts_keep_the_environment_in_charge(make_task):
    mlflow = _user(render_prompt(make_task(component="mlflow"), "zero-shot"))
    wandb = _user(render_prompt(make_task(component="wandb"), "zero-shot"))
    assert "MLFLOW_TRACKING_URI" in mlflow and "WANDB_MODE" not in mlflow
    assert "WANDB_MODE" in wandb and "MLFLOW_TRACKING_URI" not in wandb


def test_translation_docs_slots_render(make_task):
    task = make_task("translation", "version_control", "dvc", "gitpython", framework="none")
    prompt = render_prompt(task, "docprompt", docs_source=DOCS_X, docs_target=DOCS_Y, retrieval="llm-docs-search")
    user = _user(prompt)
    assert "COMMIT" in user and "PUSH" in user and "GitPython" in user and "DVC" in user
    assert "(Docs-X)" in user and "(Docs-Y)" in user
    assert user.index("(Docs-X)") < user.index("Repo.index.add") < user.index("(Docs-Y)") < user.index("dvc push")
    assert "https://gitpython.example/index" in user and "Uploads tracked data" in user
    assert user.index("dvc push") < user.index("##Code:")
    assert prompt.retrieval == "llm-docs-search"
    assert [d["slot"] for d in prompt.retrieved] == ["source", "target", "target"]
    assert prompt.retrieved[1]["title"] == "dvc add"


def test_translation_docs_slots_vanish_when_empty(make_task):
    task = make_task("translation", "experiment_tracking", "mlflow", "wandb")
    none = _user(render_prompt(task, "zero-shot"))
    assert "Docs-X" not in none and "Docs-Y" not in none
    assert "Weights & Biases" in none and "MLflow" in none
    only_target = _user(render_prompt(task, "zero-shot", docs_target=DOCS_Y))
    assert "Docs-X" not in only_target and "(Docs-Y)" in only_target


def test_docs_may_be_objects_with_attributes(make_task):
    class Doc:
        title, text, source = "t", "some text", "s"

    task = make_task("translation", "experiment_tracking", "wandb", "mlflow")
    assert "some text" in _user(render_prompt(task, "zero-shot", docs_source=[Doc()]))


def test_a_document_without_text_is_refused(make_task):
    task = make_task("translation", "version_control", "dvc", "gitpython")
    with pytest.raises(AdaptbenchError, match=r"docs_target\[0\] has no text"):
        render_prompt(task, "zero-shot", docs_target=[{"title": "empty", "text": " "}])


def test_docs_for_an_inlining_task_are_refused(make_task):
    with pytest.raises(AdaptbenchError, match="only placed in translation prompts"):
        render_prompt(make_task(), "zero-shot", docs_source=DOCS_X)


def test_unknown_combination_is_a_clear_error(make_task):
    task = make_task("inlining", "version_control", "dvc")
    with pytest.raises(UnknownNameError) as info:
        template_for(task)
    assert "no prompt template for inlining/version_control/dvc" in str(info.value)
    assert "translation/version_control/gitpython->dvc" in info.value.hint
    assert "register_template" in info.value.hint
    with pytest.raises(AdaptbenchError):
        render_prompt(task, "zero-shot")


def test_unknown_setting_is_a_clear_error(make_task):
    with pytest.raises(AdaptbenchError, match="expected one of: zero-shot, docprompt"):
        render_prompt(make_task(), "few-shot")


def test_input_with_fences_gets_a_longer_fence(make_task):
    code = 'README = """\n```python\nprint(1)\n```\n"""\nprint(README)\n'
    user = _user(render_prompt(make_task(code=code), "zero-shot"))
    assert "````python\n" + code.strip() + "\n````" in user


def test_empty_instruction_omits_the_details_section(make_task):
    user = _user(render_prompt(make_task(instruction=""), "zero-shot"))
    assert "Task-specific details" not in user


def test_prompt_hash_is_stable_and_depends_on_setting(make_task):
    task = make_task()
    assert render_prompt(task, "zero-shot").hash() == render_prompt(task, "zero-shot").hash()
    assert render_prompt(task, "zero-shot").hash() != render_prompt(task, "docprompt").hash()


def _copy_prompts(tmp_path: Path) -> Path:
    folder = tmp_path / "prompts-copy"
    shutil.copytree(default_prompts_dir(), folder)
    return folder


def test_prompts_dir_can_be_overridden_by_env(make_task, tmp_path, monkeypatch):
    folder = _copy_prompts(tmp_path)
    (folder / "system.j2").write_text("Custom system message for {{ component_name }}.")
    monkeypatch.setenv("ADAPTBENCH_PROMPTS_DIR", str(folder))
    assert render_prompt(make_task(), "zero-shot").messages[0]["content"].strip() == "Custom system message for MLflow."


def test_undefined_variable_is_an_error_not_blank(make_task, tmp_path):
    folder = _copy_prompts(tmp_path)
    (folder / "system.j2").write_text("Hello {{ no_such_variable }}")
    with pytest.raises(AdaptbenchError, match="no_such_variable"):
        render_prompt(make_task(), "zero-shot", prompts_dir=folder)


def test_missing_prompts_dir_or_template_says_how_to_fix(make_task, tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPTBENCH_PROMPTS_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(AdaptbenchError, match="does not exist") as info:
        render_prompt(make_task(), "zero-shot")
    assert "ADAPTBENCH_PROMPTS_DIR" in info.value.hint
    monkeypatch.delenv("ADAPTBENCH_PROMPTS_DIR")
    folder = _copy_prompts(tmp_path)
    (folder / "docs" / "mlflow-tracking.md").unlink()
    with pytest.raises(AdaptbenchError, match="manual 'mlflow-tracking' not found"):
        render_prompt(make_task(), "docprompt", prompts_dir=folder)


# ---------------------------------------------------------------- edit formats

# Hashes of prompts rendered before edit formats existed (prompts/ at f235cd8). "whole" must keep them: they key
# the generation cache and every stored sample. If you changed a prompt's text on purpose, update them here.
# docprompt: re-pinned when the MLflow tracking manual stopped naming a literal artifact file (2026-12-01)
WHOLE_GOLDEN = {"zero-shot": "a02364a87a38a0e31f85", "docprompt": "f211fc9f07940264d561",
                "translation-docprompt-docs": "809c01be0ceab6e431f9"}


def test_whole_format_renders_exactly_as_before_edit_formats(make_task):
    task = make_task()
    translation = make_task("translation", "version_control", "dvc", "gitpython", framework="none")
    for edit_format in ({}, {"edit_format": "whole"}):
        assert render_prompt(task, "zero-shot", **edit_format).hash() == WHOLE_GOLDEN["zero-shot"]
        assert render_prompt(task, "docprompt", **edit_format).hash() == WHOLE_GOLDEN["docprompt"]
        assert render_prompt(translation, "docprompt", docs_source=DOCS_X, docs_target=DOCS_Y,
                             **edit_format).hash() == WHOLE_GOLDEN["translation-docprompt-docs"]


@pytest.mark.parametrize(("edit_format", "markers", "header"), [
    ("search-replace", ["<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE"], "##Edits:"),
    ("udiff", ["```diff", "@@ ", "+++ b/"], "##Diff:"),
])
@pytest.mark.parametrize("setting", list(Setting), ids=lambda s: s.value)
def test_edit_formats_ask_for_their_format_instead_of_a_complete_script(edit_format, markers, header, setting,
                                                                        make_task):
    task = make_task()
    prompt = render_prompt(task, setting, edit_format=edit_format)
    system, user = prompt.messages[0]["content"], _user(prompt)
    assert "complete, runnable Python script" not in system and "as an edit" in system
    assert "Return the COMPLETE" not in user
    for marker in markers:
        assert marker in user.split("##Code:")[0], marker
    assert "EXACTLY" in user and "Do NOT repeat" in user
    assert user.rstrip().endswith(header) and "##Modified Code:" not in user
    assert INPUT_CODE.strip() in user and INSTRUCTION in user
    assert prompt.hash() != render_prompt(task, setting).hash()
    # everything but the format's own lines is the whole-file prompt's
    assert user.split("Requirements:")[0] == _user(render_prompt(task, setting)).split("Requirements:")[0]


def test_an_unknown_edit_format_is_a_clear_error(make_task):
    with pytest.raises(UnknownNameError, match="unknown edit format 'diff'") as info:
        render_prompt(make_task(), "zero-shot", edit_format="diff")
    assert "udiff" in info.value.hint
