"""CodeMachine workspaces: the config schema, its loader and its validation.

A workspace is a folder holding a config (``.codemachine/workflow.json``,
``.codemachine/workflow.yaml``/``.yml`` or ``codemachine.json``) that declares
agents and the steps that run them. ``load_workspace`` reads and checks it and
turns the steps into ``NewStep`` rows in the ``models.protocols.policies`` format.

Pure file reading: no database, no web framework, so the API and worker
activities both use it. Every problem found is reported at once, each as
``<where>: <what>`` (``steps[1].agent: unknown agent 'x'``).
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from capstan.strict_json import JsonRejected, check_value, read_json
from models.protocols.policies import validate_policy
from models.protocols.workflow_io import NewStep

#: Where the config is looked for, in this order; the first one present is used.
CONFIG_FILES = (
    ".codemachine/workflow.json",
    ".codemachine/workflow.yaml",
    ".codemachine/workflow.yml",
    "codemachine.json",
)
MAX_CONFIG_BYTES = 1024 * 1024
MAX_AGENTS = 500
MAX_STEPS = 500
MAX_PROBLEMS = 100  # listed in one answer
DEFAULT_STEP_TYPE = "execute"
AGENT_ID_PATTERN = r"^[A-Za-z0-9_.-]+$"


class CodeMachineConfigError(ValueError):
    """The workspace or its config is unusable; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = [p.replace("\x00", "\\x00") for p in problems]  # printable, storable
        super().__init__("; ".join(self.problems))


class WorkspaceOutsideRootError(PermissionError):
    """The workspace is not under the configured CodeMachine root."""


class _Strict(BaseModel):
    # Strict: "2" is not an int and 1 is not a string; unknown keys are mistakes.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:  # Postgres cannot store NUL characters
            raise ValueError("NUL bytes are not allowed")
        return value


class AgentConfig(_Strict):
    id: str = Field(min_length=1, max_length=100, pattern=AGENT_ID_PATTERN)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    engine: str | None = Field(default=None, min_length=1, max_length=100)
    model: str | None = Field(default=None, min_length=1, max_length=200)
    prompt: str | None = Field(default=None, min_length=1, max_length=1000)


class LoopConfig(_Strict):
    step_back: int = Field(ge=0)
    max_iterations: int = Field(ge=1)


class TriggerConfig(_Strict):
    agent: str = Field(min_length=1, max_length=100)


class StepConfig(_Strict):
    agent: str = Field(min_length=1, max_length=100)
    # 190, not 200: room for the suffix that makes a repeated name unique.
    name: str | None = Field(default=None, min_length=1, max_length=190)
    type: str = Field(default=DEFAULT_STEP_TYPE, min_length=1, max_length=50)
    loop: LoopConfig | None = None
    trigger: TriggerConfig | None = None


class WorkflowConfig(_Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    agents: list[AgentConfig] = Field(max_length=MAX_AGENTS)
    steps: list[StepConfig] = Field(min_length=1, max_length=MAX_STEPS)

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


@dataclass(frozen=True)
class CodeMachineWorkspace:
    path: Path                 # the workspace folder, resolved
    config_file: str           # relative to ``path``, e.g. ".codemachine/workflow.json"
    config: WorkflowConfig
    steps: list[NewStep]

    def template_source(self) -> dict[str, Any]:
        """What a protocol run imported from this workspace records as its ``template_source``."""
        return {"kind": "codemachine", "workspace_path": str(self.path), "config_file": self.config_file,
                "config": self.config.as_json()}


# --- loading -------------------------------------------------------------------------------------

def load_workspace(workspace_path: str | Path, *, root: Path | None = None) -> CodeMachineWorkspace:
    """Read and check a workspace; raises ``CodeMachineConfigError`` or ``WorkspaceOutsideRootError``.

    A relative ``workspace_path`` is taken relative to ``root`` when one is set,
    else to the current directory. With a ``root``, the resolved workspace
    (symlinks followed) must lie under it; that is checked before anything is read.
    """
    workspace = resolve_workspace(workspace_path, root)
    kind = _path_kind(workspace, "workspace_path")
    if kind == "missing":
        raise CodeMachineConfigError([f"workspace_path: folder not found: {workspace}"])
    if kind != "folder":
        raise CodeMachineConfigError([f"workspace_path: not a folder: {workspace}"])
    config_file = find_config_file(workspace)
    raw = read_config(workspace / config_file, config_file)
    config = validate_config(raw, workspace)
    return CodeMachineWorkspace(path=workspace, config_file=config_file, config=config,
                                steps=steps_from_config(config, workspace))


def resolve_workspace(workspace_path: str | Path, root: Path | None) -> Path:
    path = Path(workspace_path).expanduser()
    try:
        if root is None:
            return path.resolve()
        root = root.expanduser().resolve()
        workspace = (root / path).resolve()  # an absolute path replaces root here
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop
        raise CodeMachineConfigError([f"workspace_path: cannot be resolved: {workspace_path}"]) from None
    if not workspace.is_relative_to(root):
        raise WorkspaceOutsideRootError(f"workspace_path must be inside the CodeMachine root {root}")
    return workspace


def find_config_file(workspace: Path) -> str:
    for name in CONFIG_FILES:
        if _path_kind(workspace / name, name) == "file":
            return name
    raise CodeMachineConfigError([f"workspace_path: no CodeMachine config in {workspace} "
                                  f"(looked for {', '.join(CONFIG_FILES)})"])


def _path_kind(path: Path, where: str) -> str:
    """``file``, ``folder``, ``missing`` or ``other``; unreadable paths are a config problem, never a crash."""
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except OSError as exc:  # permission denied, name too long, symlink loop, …
        raise CodeMachineConfigError([f"{where}: cannot be read ({exc.strerror or exc})"]) from None
    return "folder" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"


def read_config(path: Path, name: str) -> Any:
    """The parsed JSON or YAML document of a config file."""
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise CodeMachineConfigError([f"{name}: larger than {MAX_CONFIG_BYTES} bytes"])
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CodeMachineConfigError([f"{name}: not UTF-8 text"]) from None
    except OSError as exc:
        raise CodeMachineConfigError([f"{name}: cannot be read ({exc.strerror or exc})"]) from None
    try:
        if name.endswith(".json"):
            return read_json(text)
        return check_value(yaml.safe_load(text))
    except JsonRejected as exc:
        raise CodeMachineConfigError([f"{name}: {_json_problem(exc)}"]) from None
    except yaml.YAMLError as exc:
        raise CodeMachineConfigError([f"{name}: invalid YAML{_yaml_position(exc)}"]) from None
    except RecursionError:
        raise CodeMachineConfigError([f"{name}: nested too deeply"]) from None


def _json_problem(exc: JsonRejected) -> str:
    if exc.decode_error is not None:
        error = exc.decode_error
        return f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"
    return "nested too deeply" if exc.code == "json_too_deep" else exc.detail


def _yaml_position(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
    return f"{where}: {problem}" if problem else where


# --- validation ----------------------------------------------------------------------------------

def validate_config(raw: Any, workspace: Path) -> WorkflowConfig:
    """The config as a model, or ``CodeMachineConfigError`` listing every problem.

    Schema problems and cross-checks (unknown agents, prompt files, loop reach)
    are both reported: items that are valid on their own are cross-checked even
    when another item is not.
    """
    if not isinstance(raw, dict):
        raise CodeMachineConfigError(["config: must be an object with 'agents' and 'steps'"])
    workspace = workspace.resolve()
    problems: list[str] = []
    try:
        config: WorkflowConfig | None = WorkflowConfig.model_validate(raw)
    except ValidationError as exc:
        config = None
        problems += schema_problems(exc)
    # Too long a list is one schema problem; cross-check only as many items as may be valid.
    raw_agents = raw.get("agents")[:MAX_AGENTS] if isinstance(raw.get("agents"), list) else []
    raw_steps = raw.get("steps")[:MAX_STEPS] if isinstance(raw.get("steps"), list) else []
    agents = list(enumerate(config.agents)) if config else _valid_items(raw_agents, AgentConfig)
    steps = list(enumerate(config.steps)) if config else _valid_items(raw_steps, StepConfig)
    declared = _declared_ids(raw_agents, problems)
    used = {s["agent"] for s in raw_steps if isinstance(s, dict) and isinstance(s.get("agent"), str)}
    for i, agent in agents:
        problems += _prompt_problems(f"agents[{i}].prompt", agent.prompt, workspace)
    for i, step in steps:
        problems += _step_problems(i, step, declared, used)
    if problems or config is None:
        problems = sorted(problems, key=_problem_order)
        if len(problems) > MAX_PROBLEMS:
            problems = problems[:MAX_PROBLEMS] + [f"config: {len(problems) - MAX_PROBLEMS} more problems not shown"]
        raise CodeMachineConfigError(problems)
    return config


#: Plainer words for the commonest pydantic errors.
_MESSAGES = {
    "missing": "required",
    "extra_forbidden": "unknown field",
    "model_type": "must be an object",
    "dict_type": "must be an object",
    "list_type": "must be a list",
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "string_pattern_mismatch": "may contain only letters, digits, '_', '.' and '-'",
}


def schema_problems(exc: ValidationError) -> list[str]:
    problems = []
    for error in exc.errors(include_url=False):
        where = _location(error.get("loc", ()))
        message = _MESSAGES.get(error.get("type", "")) or str(error.get("msg", "invalid"))
        message = message[:1].lower() + message[1:]
        problems.append(f"{where or 'config'}: {message}")
    return problems


def _problem_order(problem: str) -> tuple[int, int]:
    """Problems sorted as the config reads: top-level fields, then agents, then steps, by index."""
    for rank, section in ((1, "agents["), (2, "steps[")):
        if problem.startswith(section):
            index = problem[len(section):].partition("]")[0]
            return rank, int(index) if index.isdigit() else 0
    return 0, 0


def _location(loc: tuple[Any, ...]) -> str:
    where = ""
    for part in loc:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    return where


def _valid_items(items: list[Any], model: type[_Strict]) -> list[tuple[int, Any]]:
    valid = []
    for i, item in enumerate(items):
        try:
            valid.append((i, model.model_validate(item)))
        except ValidationError:
            pass  # already reported by the whole-config validation
    return valid


def _declared_ids(raw_agents: list[Any], problems: list[str]) -> set[str]:
    first_seen: dict[str, int] = {}
    for i, agent in enumerate(raw_agents):
        agent_id = agent.get("id") if isinstance(agent, dict) else None
        if not isinstance(agent_id, str):
            continue
        if agent_id in first_seen:
            problems.append(f"agents[{i}].id: duplicate agent id '{agent_id}' "
                            f"(first declared at agents[{first_seen[agent_id]}])")
        else:
            first_seen[agent_id] = i
    return set(first_seen)


def _prompt_problems(where: str, prompt: str | None, workspace: Path) -> list[str]:
    if prompt is None:
        return []
    if Path(prompt).is_absolute():
        return [f"{where}: must be a path relative to the workspace, not '{prompt}'"]
    try:
        target = (workspace / prompt).resolve()
    except (OSError, RuntimeError):
        return [f"{where}: cannot be resolved: '{prompt}'"]
    if not target.is_relative_to(workspace):
        return [f"{where}: '{prompt}' leads outside the workspace"]
    try:
        if _path_kind(target, where) != "file":
            return [f"{where}: file not found: '{prompt}'"]
    except CodeMachineConfigError as exc:
        return exc.problems
    return []


def _step_problems(i: int, step: StepConfig, declared: set[str], used: set[str]) -> list[str]:
    problems = []
    if step.agent not in declared:
        problems.append(f"steps[{i}].agent: unknown agent '{step.agent}'")
    if step.loop is not None and step.loop.step_back > i:
        problems.append(f"steps[{i}].loop.step_back: {step.loop.step_back} reaches before the first step "
                        f"(at most {i} here)")
    if step.trigger is not None:
        if step.trigger.agent not in declared:
            problems.append(f"steps[{i}].trigger.agent: unknown agent '{step.trigger.agent}'")
        elif step.trigger.agent not in used:
            problems.append(f"steps[{i}].trigger.agent: no step runs agent '{step.trigger.agent}'")
    return problems


# --- steps ---------------------------------------------------------------------------------------

def steps_from_config(config: WorkflowConfig, workspace: Path) -> list[NewStep]:
    """The steps of a valid config, in order, ready to be written as StepRuns."""
    workspace = workspace.resolve()
    agents = {agent.id: agent for agent in config.agents}
    names = unique_step_names([step.name or step.agent for step in config.steps])
    steps = []
    for index, (step, name) in enumerate(zip(config.steps, names, strict=True)):
        agent = agents[step.agent]
        policy = step_policy(step)
        problems = validate_policy(policy)
        if problems:  # the schema should make this impossible; never write a policy the workflow rejects
            raise CodeMachineConfigError([f"steps[{index}].{p}" for p in problems])
        runtime_state: dict[str, Any] = {"agent_id": agent.id}
        if agent.prompt is not None:
            prompt_file = (workspace / agent.prompt).resolve()
            runtime_state["prompt_path"] = prompt_file.relative_to(workspace).as_posix()
            # The workspace lives where the API runs, not where workers do: carry the prompt itself.
            runtime_state["prompt"] = _read_prompt(prompt_file)
        steps.append(NewStep(step_index=index, step_name=name, step_type=step.type, engine_id=agent.engine,
                             model=agent.model, summary=agent.name, policy=policy, runtime_state=runtime_state))
    return steps


MAX_PROMPT_CHARS = 64 * 1024


def _read_prompt(path: Path) -> str:
    text = path.read_text(encoding="utf-8", errors="replace").replace("\x00", "")
    if len(text) > MAX_PROMPT_CHARS:
        raise CodeMachineConfigError([f"prompt {path.name}: larger than {MAX_PROMPT_CHARS} characters"])
    return text


def step_policy(step: StepConfig) -> list[dict[str, Any]] | None:
    """The step's policies in the ``models.protocols.policies`` format, ``None`` when it has none."""
    policy: list[dict[str, Any]] = []
    if step.loop is not None:
        policy.append({"type": "loop", "step_back": step.loop.step_back,
                       "max_iterations": step.loop.max_iterations})
    if step.trigger is not None:
        policy.append({"type": "trigger", "agent_id": step.trigger.agent})
    return policy or None


def unique_step_names(bases: list[str]) -> list[str]:
    """Each base name as is the first time; later repeats get ``-2``, ``-3``, … avoiding every other name."""
    reserved = set(bases)
    taken: set[str] = set()
    names = []
    for base in bases:
        name, n = base, 2
        if name in taken:
            while (name := f"{base}-{n}") in taken or name in reserved:
                n += 1
        taken.add(name)
        names.append(name)
    return names
