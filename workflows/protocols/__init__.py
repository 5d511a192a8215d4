"""The protocols surface's workflows, registered on its task queue by ``worker.registry``."""

from workflows.protocols.project_setup import ProjectSetupWorkflow
from workflows.protocols.protocol_run import ProtocolRunWorkflow
from workflows.protocols.reconcile import LostSetupReconcileWorkflow

PROTOCOL_WORKFLOWS: list[type] = [ProjectSetupWorkflow, ProtocolRunWorkflow, LostSetupReconcileWorkflow]
