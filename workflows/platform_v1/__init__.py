"""The platform API v1 surface's workflows, registered on its task queue by ``worker.registry``."""

from workflows.platform_v1.notification_test import NotificationTestWorkflow
from workflows.platform_v1.outbox_relay import OutboxRelayWorkflow

PLATFORM_V1_WORKFLOWS: list[type] = [OutboxRelayWorkflow, NotificationTestWorkflow]
