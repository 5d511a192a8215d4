"""The maintenance surface's workflows, registered on its task queue by ``worker.registry``."""

from workflows.maintenance.attempt_sync import AttemptSyncWorkflow
from workflows.maintenance.dispatch import FlowEventDispatchWorkflow
from workflows.maintenance.feed_poll import FeedPollWorkflow
from workflows.maintenance.rebase_run import PatchStackRebaseWorkflow

MAINTENANCE_WORKFLOWS: list[type] = [FeedPollWorkflow, FlowEventDispatchWorkflow, PatchStackRebaseWorkflow,
                                     AttemptSyncWorkflow]
