"""The coding-tasks surface's activities, built on one worker process's shared resources."""

from __future__ import annotations

from collections.abc import Callable

from activities.common.resources import WorkerResources
from activities.tasks.github_steps import GitHubSteps, TaskGitHub
from activities.tasks.records import TaskRecords
from activities.tasks.runs import TaskRunners


def task_activities(resources: WorkerResources) -> list[Callable]:
    """Every activity ``CodingTaskWorkflow`` and ``TaskStatusChangeWorkflow`` call, on the tasks task queue."""
    settings = resources.settings
    github = TaskGitHub(resources.sessions, settings, resources.secret_box)
    records = TaskRecords(resources.sessions, settings.tasks.handle)
    steps = GitHubSteps(resources.sessions, github, settings.tasks.handle)
    workdir = settings.tasks.workdir or settings.worker.git_cache_dir.resolve().parent / "tasks"
    runners = TaskRunners(resources.sessions, settings, resources.secret_box, github, resources.sandbox,
                          resources.repositories.git, workdir)
    return [
        records.load_task_execution, records.record_task_transition, records.record_task_enqueue,
        records.record_task_result, records.record_manual_task_status,
        steps.read_task_request_from_github, steps.announce_manual_task_status,
        steps.react_to_task_comment, steps.mint_task_github_token, steps.read_agents_md,
        steps.announce_task_transition, steps.open_task_pull_request,
        runners.check_task_readiness, runners.run_task_runner_process, runners.start_task_remote_runner,
        runners.destroy_task_runner,
    ]
