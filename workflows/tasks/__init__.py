"""The coding-tasks surface's workflows, registered on its task queue by ``worker.registry``."""

from workflows.tasks.coding_task import CodingTaskWorkflow

TASK_WORKFLOWS: list[type] = [CodingTaskWorkflow]
