"""The platform API v1 surface's workflows, on the ``capstan-platform_v1`` task queue."""

from workflows.platform_v1.agent_execution import AgentExecutionWorkflow
from workflows.platform_v1.jobs import AccountingSyncWorkflow, ExportWorkflow, ImportWorkflow

PLATFORM_V1_WORKFLOWS: list[type] = [AgentExecutionWorkflow, ImportWorkflow, ExportWorkflow, AccountingSyncWorkflow]

__all__ = ["PLATFORM_V1_WORKFLOWS", "AccountingSyncWorkflow", "AgentExecutionWorkflow", "ExportWorkflow",
           "ImportWorkflow"]
