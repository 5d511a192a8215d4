"""Each worker surface registers, on its own task queue, every activity its workflows call."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from enum import Enum
from pathlib import Path
from types import ModuleType

import pytest

from activities.common.resources import WorkerResources
from capstan.settings import SecretsSettings, Settings, TemporalSettings, WorkerSettings
from capstan.temporal import WorkerSurfaceName, surface_task_queue, surface_task_queues
from worker.registry import WORKER_SURFACES, UnknownSurface, WorkerSurface, choose_surfaces, parse_surface_names

_CALLS = {"execute_activity", "start_activity"}


def _module_ast(module: ModuleType) -> ast.Module:
    return ast.parse(Path(inspect.getfile(module)).read_text())


def _workflow_modules(workflow: type) -> list[ModuleType]:
    """The workflow's module and every ``workflows.*`` module it imports, directly or not: code that
    runs in the workflow (such as ``workflows.common.records``) may call activities too."""
    seen: dict[str, ModuleType] = {}
    pending = [workflow.__module__]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        module = seen[name] = importlib.import_module(name)
        for node in ast.walk(_module_ast(module)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("workflows."):
                pending.append(node.module)
            elif isinstance(node, ast.Import):
                pending.extend(alias.name for alias in node.names if alias.name.startswith("workflows."))
    return list(seen.values())


def activity_names_used(workflow: type) -> set[str]:
    """Every activity name the workflow's code can call: each member of an activity-name enum it refers
    to (``ActivityName.RUN_QA``, wherever the name is passed on to), each string literal and each
    activity function it hands to ``workflow.execute_activity``/``start_activity``."""
    used: set[str] = set()
    for module in _workflow_modules(workflow):
        for node in ast.walk(_module_ast(module)):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                named = getattr(module, node.value.id, None)
                if inspect.isclass(named) and issubclass(named, Enum) and named.__name__.endswith("ActivityName"):
                    used.add(named[node.attr].value)
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _CALLS
                    and node.args):
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    used.add(first.value)
                elif not (isinstance(first, ast.Attribute) and isinstance(first.value, ast.Name)) and \
                        not isinstance(first, ast.Name):
                    pytest.fail(f"{module.__name__}: cannot tell which activity {ast.unparse(first)} names")
    return used


def registered_activity_names(surface: WorkerSurface, resources: WorkerResources) -> set[str]:
    return {fn.__temporal_activity_definition.name for fn in surface.activities(resources)}


@pytest.fixture
async def resources(tmp_path):
    made = WorkerResources(Settings(worker=WorkerSettings(git_cache_dir=tmp_path / "cache"),
                                    secrets=SecretsSettings(key=None)))
    yield made
    await made.close()


@pytest.mark.parametrize("surface", WORKER_SURFACES, ids=lambda s: s.name)
async def test_every_activity_a_workflow_calls_is_registered_on_its_queue(surface: WorkerSurface, resources):
    registered = registered_activity_names(surface, resources)
    for workflow in surface.workflows:
        used = activity_names_used(workflow)
        assert used, f"{workflow.__name__}: found no activity calls; the scan has lost track of them"
        missing = used - registered
        assert not missing, f"{workflow.__name__} calls {sorted(missing)}, not registered on {surface.name}'s queue"


def test_the_scan_sees_an_activity_a_workflow_calls():
    """The guard itself: the run workflow calls QA and the records write through ``workflows.common``."""
    from workflows.protocols.protocol_run import ProtocolRunWorkflow

    used = activity_names_used(ProtocolRunWorkflow)
    assert {"run_qa", "write_run_records", "open_pull_request"} <= used


def test_every_surface_has_its_own_task_queue():
    settings = TemporalSettings(task_queue="acme")
    assert {surface.name for surface in WORKER_SURFACES} == set(WorkerSurfaceName)
    queues = [surface.task_queue(settings) for surface in WORKER_SURFACES]
    assert sorted(queues) == sorted(surface_task_queues(settings)) and len(set(queues)) == len(queues)
    assert surface_task_queue(settings, WorkerSurfaceName.PROTOCOLS) == "acme-protocols"


def test_surfaces_are_chosen_by_name_and_default_to_all():
    assert choose_surfaces(None) == WORKER_SURFACES
    assert [s.name for s in choose_surfaces(parse_surface_names(" protocols, "))] == ["protocols"]
    assert [s.name for s in choose_surfaces(["maintenance", "protocols"])] == ["protocols", "maintenance"]
    assert [s.name for s in choose_surfaces(["tasks"])] == ["tasks"]
    with pytest.raises(UnknownSurface, match="platform"):
        choose_surfaces(["protocols", "platform"])
    with pytest.raises(UnknownSurface, match="no worker surface"):
        choose_surfaces(parse_surface_names(" , "))


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--surfaces", "protocols,nope"], {},
     "unknown worker surface(s) nope; known surfaces: maintenance, platform_v1, protocols, tasks"),
    (["--surfaces", ""], {}, "no worker surface chosen"),
    ([], {"CAPSTAN_WORKER_SURFACES": "ops"}, "unknown worker surface(s) ops"),
])
def test_the_worker_refuses_an_unknown_or_empty_surface_list(args, env, message):
    done = subprocess.run([sys.executable, "-m", "capstan", "worker", *args], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", **env}, timeout=60)
    assert done.returncode == 2 and message in done.stderr, done.stderr
