"""The CodeMachine workspace loader, on real folders: formats, steps produced, every error class."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from api.protocols.codemachine_config import (
    CodeMachineConfigError,
    WorkspaceOutsideRootError,
    load_workspace,
    unique_step_names,
)
from models.protocols.policies import loop_policy, trigger_policy, validate_policy
from models.protocols.workflow_io import NewStep

VALID: dict[str, Any] = {
    "name": "feature",
    "agents": [
        {"id": "planner", "name": "Planner", "engine": "script", "model": "m-large", "prompt": "prompts/plan.md"},
        {"id": "coder", "engine": "command", "prompt": "prompts/code.md"},
        {"id": "reviewer"},
    ],
    "steps": [
        {"agent": "planner", "name": "plan"},
        {"agent": "coder", "trigger": {"agent": "reviewer"}},
        {"agent": "reviewer", "type": "qa", "loop": {"step_back": 1, "max_iterations": 3}},
    ],
}


def make_workspace(root: Path, config: Any, *, config_file: str = ".codemachine/workflow.json",
                   prompts: tuple[str, ...] = ("prompts/plan.md", "prompts/code.md")) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for prompt in prompts:
        (root / prompt).parent.mkdir(parents=True, exist_ok=True)
        (root / prompt).write_text(f"# {prompt}\n")
    target = root / config_file
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(config if isinstance(config, str) else json.dumps(config))
    return root


def problems_of(path: Path, **kwargs: Any) -> list[str]:
    with pytest.raises(CodeMachineConfigError) as caught:
        load_workspace(path, **kwargs)
    assert str(caught.value) == "; ".join(caught.value.problems)
    return caught.value.problems


def with_changes(**changes: Any) -> dict[str, Any]:
    return {**json.loads(json.dumps(VALID)), **changes}


# --- valid configs -------------------------------------------------------------------------------

def test_valid_json_config_becomes_steps_in_order(tmp_path):
    workspace = load_workspace(make_workspace(tmp_path / "ws", VALID))
    assert workspace.path == (tmp_path / "ws").resolve()
    assert workspace.config_file == ".codemachine/workflow.json"
    assert workspace.steps == [
        NewStep(step_index=0, step_name="plan", step_type="execute", engine_id="script", model="m-large",
                summary="Planner", policy=None,
                runtime_state={"agent_id": "planner", "prompt_path": "prompts/plan.md",
                               "prompt": "# prompts/plan.md\n"}),
        NewStep(step_index=1, step_name="coder", step_type="execute", engine_id="command", model=None,
                summary=None, policy=[{"type": "trigger", "agent_id": "reviewer"}],
                runtime_state={"agent_id": "coder", "prompt_path": "prompts/code.md", "prompt": "# prompts/code.md\n"}),
        NewStep(step_index=2, step_name="reviewer", step_type="qa", engine_id=None, model=None, summary=None,
                policy=[{"type": "loop", "step_back": 1, "max_iterations": 3}],
                runtime_state={"agent_id": "reviewer"}),
    ]
    assert all(step.status == "pending" for step in workspace.steps)


def test_template_source_records_the_workspace_and_the_parsed_config(tmp_path):
    workspace = load_workspace(make_workspace(tmp_path / "ws", VALID))
    source = workspace.template_source()
    assert source["kind"] == "codemachine" and source["workspace_path"] == str(workspace.path)
    assert source["config_file"] == ".codemachine/workflow.json"
    assert source["config"]["agents"][2] == {"id": "reviewer"}
    assert source["config"]["steps"][0] == {"agent": "planner", "name": "plan", "type": "execute"}
    json.dumps(source)  # storable as JSONB


def test_produced_policies_are_in_the_policies_format(tmp_path):
    steps = load_workspace(make_workspace(tmp_path / "ws", VALID)).steps
    for step in steps:
        assert validate_policy(step.policy) == []
    assert trigger_policy(steps[1].policy).agent_id == "reviewer" and loop_policy(steps[1].policy) is None
    loop = loop_policy(steps[2].policy)
    assert (loop.step_back, loop.max_iterations) == (1, 3)


def test_a_step_with_both_policies_carries_both(tmp_path):
    config = with_changes(steps=[{"agent": "planner"}, {"agent": "coder", "loop": {"step_back": 1,
                                 "max_iterations": 2}, "trigger": {"agent": "planner"}}])
    step = load_workspace(make_workspace(tmp_path / "ws", config)).steps[1]
    assert step.policy == [{"type": "loop", "step_back": 1, "max_iterations": 2},
                           {"type": "trigger", "agent_id": "planner"}]


@pytest.mark.parametrize("config_file", [".codemachine/workflow.yaml", ".codemachine/workflow.yml"])
def test_valid_yaml_config(tmp_path, config_file):
    text = """
name: feature
agents:
  - id: planner
    name: Planner
    engine: script
    prompt: prompts/plan.md
  - id: reviewer
steps:
  - agent: planner
  - agent: reviewer
    type: qa
    loop: {step_back: 1, max_iterations: 2}
"""
    workspace = load_workspace(make_workspace(tmp_path / "ws", text, config_file=config_file))
    assert workspace.config_file == config_file
    assert [(s.step_name, s.step_type, s.policy) for s in workspace.steps] == [
        ("planner", "execute", None),
        ("reviewer", "qa", [{"type": "loop", "step_back": 1, "max_iterations": 2}]),
    ]


def test_codemachine_json_at_the_root_is_accepted(tmp_path):
    workspace = load_workspace(make_workspace(tmp_path / "ws", VALID, config_file="codemachine.json"))
    assert workspace.config_file == "codemachine.json" and len(workspace.steps) == 3


def test_the_codemachine_folder_wins_over_the_root_file(tmp_path):
    root = make_workspace(tmp_path / "ws", VALID)
    (root / "codemachine.json").write_text("not json")
    assert load_workspace(root).config_file == ".codemachine/workflow.json"


def test_duplicate_step_names_get_a_suffix(tmp_path):
    config = with_changes(steps=[{"agent": "coder"}, {"agent": "coder"}, {"agent": "planner", "name": "coder-2"},
                                 {"agent": "coder"}])
    names = [s.step_name for s in load_workspace(make_workspace(tmp_path / "ws", config)).steps]
    assert names == ["coder", "coder-3", "coder-2", "coder-4"]
    assert len(set(names)) == len(names)


def test_unique_step_names():
    assert unique_step_names(["a", "b", "a", "a"]) == ["a", "b", "a-2", "a-3"]
    assert unique_step_names(["x", "x-2", "x"]) == ["x", "x-2", "x-3"]


def test_prompt_path_is_normalised_relative_to_the_workspace(tmp_path):
    config = with_changes(agents=[{"id": "planner", "prompt": "./prompts/../prompts/plan.md"}],
                          steps=[{"agent": "planner"}])
    step = load_workspace(make_workspace(tmp_path / "ws", config)).steps[0]
    assert step.runtime_state == {"agent_id": "planner", "prompt_path": "prompts/plan.md",
                                  "prompt": "# prompts/plan.md\n"}


def test_a_relative_workspace_is_taken_under_the_root(tmp_path):
    make_workspace(tmp_path / "root" / "ws", VALID)
    workspace = load_workspace("ws", root=tmp_path / "root")
    assert workspace.path == (tmp_path / "root" / "ws").resolve()


def test_step_back_may_reach_the_first_step_exactly(tmp_path):
    config = with_changes(steps=[{"agent": "planner"}, {"agent": "coder"},
                                 {"agent": "reviewer", "loop": {"step_back": 2, "max_iterations": 1}}])
    assert load_workspace(make_workspace(tmp_path / "ws", config)).steps[2].policy[0]["step_back"] == 2


# --- errors --------------------------------------------------------------------------------------

def test_missing_folder(tmp_path):
    assert problems_of(tmp_path / "nowhere") == [f"workspace_path: folder not found: {tmp_path / 'nowhere'}"]


def test_a_file_is_not_a_workspace(tmp_path):
    (tmp_path / "file").write_text("x")
    assert problems_of(tmp_path / "file") == [f"workspace_path: not a folder: {tmp_path / 'file'}"]


def test_no_config_file(tmp_path):
    (tmp_path / "ws").mkdir()
    [problem] = problems_of(tmp_path / "ws")
    assert problem.startswith("workspace_path: no CodeMachine config in ")
    assert ".codemachine/workflow.json" in problem and "codemachine.json" in problem


def test_unparseable_json(tmp_path):
    root = make_workspace(tmp_path / "ws", '{"agents": [,]}')
    assert problems_of(root) == [".codemachine/workflow.json: invalid JSON at line 1 column 13: "
                                 "Expecting value"]


def test_unparseable_yaml(tmp_path):
    root = make_workspace(tmp_path / "ws", "agents: [a, b\nsteps: x\n", config_file=".codemachine/workflow.yaml")
    [problem] = problems_of(root)
    assert problem.startswith(".codemachine/workflow.yaml: invalid YAML at line ")


def test_config_that_is_not_utf8(tmp_path):
    root = make_workspace(tmp_path / "ws", "{}")
    (root / ".codemachine/workflow.json").write_bytes(b"\xff\xfe{")
    assert problems_of(root) == [".codemachine/workflow.json: not UTF-8 text"]


@pytest.mark.parametrize("document", ["[1, 2]", '"text"', "null"])
def test_config_must_be_an_object(tmp_path, document):
    assert problems_of(make_workspace(tmp_path / "ws", document)) == [
        "config: must be an object with 'agents' and 'steps'"]


def test_schema_violations_are_all_listed(tmp_path):
    config = {
        "agents": [{"id": "a b"}, {"id": "planner", "colour": "red"}, {"name": "no id"}],
        "steps": [{"agent": "planner", "loop": {"step_back": "1", "max_iterations": 0}}, 5],
        "extra": True,
    }
    assert problems_of(make_workspace(tmp_path / "ws", config, prompts=())) == [
        "extra: unknown field",
        "agents[0].id: may contain only letters, digits, '_', '.' and '-'",
        "agents[1].colour: unknown field",
        "agents[2].id: required",
        "steps[0].loop.step_back: must be an integer",
        "steps[0].loop.max_iterations: input should be greater than or equal to 1",
        "steps[1]: must be an object",
    ]


def test_at_least_one_step(tmp_path):
    assert problems_of(make_workspace(tmp_path / "ws", with_changes(steps=[]))) == [
        "steps: list should have at least 1 item after validation, not 0"]


def test_missing_agents_and_steps(tmp_path):
    assert problems_of(make_workspace(tmp_path / "ws", {})) == ["agents: required", "steps: required"]


def test_types_are_strict(tmp_path):
    config = with_changes(agents=[{"id": 7}, {"id": "ok", "engine": True}],
                          steps=[{"agent": "ok", "loop": {"step_back": True, "max_iterations": 1.5}}])
    assert problems_of(make_workspace(tmp_path / "ws", config)) == [
        "agents[0].id: must be a string",
        "agents[1].engine: must be a string",
        "steps[0].loop.step_back: must be an integer",
        "steps[0].loop.max_iterations: must be an integer",
    ]


def test_unknown_agents_and_duplicates(tmp_path):
    config = with_changes(
        agents=[{"id": "planner"}, {"id": "planner"}, {"id": "coder"}],
        steps=[{"agent": "planner"}, {"agent": "x"}, {"agent": "planner", "trigger": {"agent": "ghost"}},
               {"agent": "planner", "trigger": {"agent": "coder"}}],
    )
    assert problems_of(make_workspace(tmp_path / "ws", config)) == [
        "agents[1].id: duplicate agent id 'planner' (first declared at agents[0])",
        "steps[1].agent: unknown agent 'x'",
        "steps[2].trigger.agent: unknown agent 'ghost'",
        "steps[3].trigger.agent: no step runs agent 'coder'",
    ]


def test_prompt_problems(tmp_path):
    outside = tmp_path / "secret.md"
    outside.write_text("x")
    root = make_workspace(tmp_path / "ws", with_changes(
        agents=[{"id": "a", "prompt": "prompts/missing.md"}, {"id": "b", "prompt": "../secret.md"},
                {"id": "c", "prompt": str(outside)}, {"id": "d", "prompt": "link.md"},
                {"id": "e", "prompt": "prompts"}],
        steps=[{"agent": "a"}]))
    (root / "link.md").symlink_to(outside)
    assert problems_of(root) == [
        "agents[0].prompt: file not found: 'prompts/missing.md'",
        "agents[1].prompt: '../secret.md' leads outside the workspace",
        f"agents[2].prompt: must be a path relative to the workspace, not '{outside}'",
        "agents[3].prompt: 'link.md' leads outside the workspace",
        "agents[4].prompt: file not found: 'prompts'",
    ]


def test_step_back_reaching_before_the_first_step(tmp_path):
    config = with_changes(steps=[{"agent": "planner", "loop": {"step_back": 1, "max_iterations": 2}},
                                 {"agent": "coder", "loop": {"step_back": 3, "max_iterations": 2}}])
    assert problems_of(make_workspace(tmp_path / "ws", config)) == [
        "steps[0].loop.step_back: 1 reaches before the first step (at most 0 here)",
        "steps[1].loop.step_back: 3 reaches before the first step (at most 1 here)",
    ]


def test_cross_checks_still_run_when_another_item_is_malformed(tmp_path):
    config = with_changes(steps=[{"agent": "nobody"}, {"agent": "coder", "bogus": 1}])
    assert problems_of(make_workspace(tmp_path / "ws", config)) == [
        "steps[0].agent: unknown agent 'nobody'",
        "steps[1].bogus: unknown field",
    ]


def test_nul_bytes_are_refused_and_printed_escaped(tmp_path):
    config = with_changes(agents=[{"id": "a", "name": "bad\u0000name"}], steps=[{"agent": "a"}])
    [problem] = problems_of(make_workspace(tmp_path / "ws", config))
    assert problem == ".codemachine/workflow.json: NUL byte in a string at $.agents[0].name"
    [problem] = problems_of(make_workspace(tmp_path / "yaml", "agents: [{id: a, name: \"x\\0\"}]\n",
                                           config_file=".codemachine/workflow.yaml"))
    assert problem.startswith(".codemachine/workflow.yaml: NUL byte in a string")
    assert "\x00" not in problem


def test_lone_surrogates_and_non_finite_numbers_are_refused(tmp_path):
    config = with_changes(agents=[{"id": "a", "name": "bad\udc00"}], steps=[{"agent": "a"}])
    [problem] = problems_of(make_workspace(tmp_path / "ws", config))
    assert problem.startswith(".codemachine/workflow.json: lone UTF-16 surrogate in a string")
    assert problem.endswith("at $.agents[0].name")
    [problem] = problems_of(make_workspace(tmp_path / "yaml", "name: x\nagents: [{id: a, name: .nan}]\n",
                                           config_file=".codemachine/workflow.yaml"))
    assert problem.startswith(".codemachine/workflow.yaml: nan is not a number JSON allows")


def test_too_long_names_are_refused(tmp_path):
    config = with_changes(agents=[{"id": "a", "model": "m" * 201}], steps=[{"agent": "a", "name": "n" * 191}])
    assert problems_of(make_workspace(tmp_path / "ws", config)) == [
        "agents[0].model: string should have at most 200 characters",
        "steps[0].name: string should have at most 190 characters",
    ]


def test_workspace_outside_the_root(tmp_path):
    make_workspace(tmp_path / "elsewhere", VALID)
    (tmp_path / "root").mkdir()
    with pytest.raises(WorkspaceOutsideRootError):
        load_workspace(tmp_path / "elsewhere", root=tmp_path / "root")
    with pytest.raises(WorkspaceOutsideRootError):
        load_workspace("../elsewhere", root=tmp_path / "root")
    (tmp_path / "root" / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(WorkspaceOutsideRootError):
        load_workspace("link", root=tmp_path / "root")


def test_outside_the_root_is_refused_before_looking(tmp_path):
    (tmp_path / "root").mkdir()
    with pytest.raises(WorkspaceOutsideRootError):
        load_workspace(tmp_path / "does-not-exist", root=tmp_path / "root")


def test_unreadable_paths_are_problems_not_crashes(tmp_path):
    long_name = tmp_path / ("a" * 300)
    assert problems_of(long_name) == ["workspace_path: cannot be read (File name too long)"]
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    assert problems_of(tmp_path / "loop1") == [f"workspace_path: cannot be resolved: {tmp_path / 'loop1'}"]
    root = make_workspace(tmp_path / "ws", with_changes(agents=[{"id": "a", "prompt": "p" * 300}],
                                                        steps=[{"agent": "a"}]))
    assert problems_of(root) == ["agents[0].prompt: cannot be read (File name too long)"]


def test_deeply_nested_documents_are_refused(tmp_path):
    root = make_workspace(tmp_path / "ws", "[" * 100_000 + "]" * 100_000)
    assert problems_of(root) == [".codemachine/workflow.json: nested too deeply"]


def test_too_many_items_and_problems_are_bounded(tmp_path):
    config = {"agents": [{"id": f"a{i}"} for i in range(501)], "steps": [{"agent": "a0"}]}
    assert problems_of(make_workspace(tmp_path / "long", config)) == [
        "agents: list should have at most 500 items after validation, not 501"]
    config = {"agents": [{"id": f"a{i}", "bogus": 1} for i in range(300)], "steps": [{"agent": "a0"}]}
    problems = problems_of(make_workspace(tmp_path / "many", config))
    assert len(problems) == 101 and problems[0] == "agents[0].bogus: unknown field"
    assert problems[-1] == "config: 200 more problems not shown"
