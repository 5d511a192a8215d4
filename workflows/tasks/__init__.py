"""The coding-tasks surface's workflows, registered on its task queue by ``worker.registry``."""

from workflows.tasks.coding_task import CodingTaskWorkflow
from workflows.tasks.status_change import TaskStatusChangeWorkflow

TASK_WORKFLOWS: list[type] = [CodingTaskWorkflow, TaskStatusChangeWorkflow]
