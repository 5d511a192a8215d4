"""The platform API v1 surface's workflows, registered on its task queue by ``worker.registry``."""

from workflows.platform_v1.agent_execution import AgentExecutionWorkflow
from workflows.platform_v1.jobs import AccountingSyncWorkflow, ExportWorkflow, ImportWorkflow
from workflows.platform_v1.notification_test import NotificationTestWorkflow
from workflows.platform_v1.outbox_relay import OutboxRelayWorkflow
from workflows.platform_v1.smoke import PlatformSmokeWorkflow

PLATFORM_V1_WORKFLOWS: list[type] = [OutboxRelayWorkflow, NotificationTestWorkflow, AgentExecutionWorkflow,
                                     PlatformSmokeWorkflow, ImportWorkflow, ExportWorkflow, AccountingSyncWorkflow]

__all__ = ["PLATFORM_V1_WORKFLOWS", "AccountingSyncWorkflow", "AgentExecutionWorkflow", "ExportWorkflow",
           "ImportWorkflow", "NotificationTestWorkflow", "OutboxRelayWorkflow", "PlatformSmokeWorkflow"]
