"""Every event type the protocols surface records, defined once.

Event types are stored in ``events.event_type`` and read by clients, so a value
never changes. Webhook deliveries record ``<forge>_<event name>`` types derived
from the payload (``api.protocols.services.webhooks.event_type_of``); they are not listed here.
"""

from __future__ import annotations

from enum import StrEnum, unique

from models.common.records import RECORD_REJECTED_EVENT


@unique
class EventType(StrEnum):
    # Project setup (ProjectSetupWorkflow)
    SETUP_STARTED = "setup_started"
    SETUP_FAILED = "setup_failed"
    REPOSITORY_FETCHED = "repository_fetched"
    BASE_BRANCH_VERIFIED = "base_branch_verified"
    CI_PROVIDER_DETECTED = "ci_provider_detected"
    SETUP_COMPLETED = "setup_completed"

    # Protocol actions
    PLANNING_STARTED = "planning_started"
    PROTOCOL_PLANNED = "protocol_planned"
    PROTOCOL_PAUSED = "protocol_paused"
    PROTOCOL_RESUMED = "protocol_resumed"
    PROTOCOL_CANCELLED = "protocol_cancelled"
    PROTOCOL_COMPLETED = "protocol_completed"
    OPEN_PR_REQUESTED = "open_pr_requested"
    PR_OPENED = "pr_opened"
    OPEN_PR_FAILED = "open_pr_failed"

    # Steps
    STEP_CREATED = "step_created"
    STEP_STARTED = "step_started"
    STEP_RETRIED = "step_retried"
    STEP_COMPLETED = "step_completed"
    STEP_FAILED = "step_failed"
    QA_REQUESTED = "qa_requested"
    QA_PASSED = "qa_passed"
    QA_FAILED = "qa_failed"
    MANUAL_APPROVAL = "manual_approval"
    JOB_FAILED = "job_failed"
    LOOP_POLICY_APPLIED = "loop_policy_applied"
    LOOP_POLICY_EXHAUSTED = "loop_policy_exhausted"
    TRIGGER_POLICY_APPLIED = "trigger_policy_applied"

    # CodeMachine import
    CODEMACHINE_IMPORT_ENQUEUED = "codemachine_import_enqueued"
    CODEMACHINE_IMPORTED = "codemachine_imported"

    # CI results (the ci_report signal)
    CI_RUNNING = "ci_running"
    CI_SUCCEEDED = "ci_succeeded"
    CI_FAILED = "ci_failed"
    CI_IGNORED = "ci_ignored"
    CI_UNMATCHED = "ci_unmatched"
    PR_MERGED = "pr_merged"

    # A write Postgres refused for its data (workflows.common.records)
    RECORD_REJECTED = RECORD_REJECTED_EVENT
