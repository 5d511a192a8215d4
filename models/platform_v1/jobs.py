"""Jobs of the platform API v1: an import, an export or an accounting sync, each the view of one workflow
execution (``platform_executions`` with its ``job_id``). Their types, error codes and limits are defined here
once, for the API, the workflows and the activities (the wire contracts are ``job_contracts``).

Free of SQLAlchemy: ``workflows/`` imports it.
"""

from __future__ import annotations

import re
from enum import StrEnum

JOB_PREFIX = "job"
JOB_ID = re.compile(r"^job_[0-9a-f]{32}$")
#: Records of one import.
MAX_IMPORT_RECORDS = 5000
#: Records of one export; more fails it with ``export_too_large``.
MAX_EXPORT_RECORDS = 100_000
#: The actor of what an accounting sync writes (payments, invoices paid).
ACCOUNTING_ACTOR = "accounting-sync"
#: The workspace secret an accounting call reads (its Bearer token), by key.
ACCOUNTING_TOKEN_SECRET = "accounting.token"


class JobType(StrEnum):
    IMPORT = "import"
    EXPORT = "export"
    ACCOUNTING_SYNC = "accounting_sync"


class JobErrorCode(StrEnum):
    INVALID_REFERENCE = "invalid_reference"
    EXPORT_TOO_LARGE = "export_too_large"
    ADAPTER_UNAVAILABLE = "adapter_unavailable"
    ADAPTER_REJECTED = "adapter_rejected"
    INVALID_ADAPTER_RESPONSE = "invalid_adapter_response"
    INTERNAL_ERROR = "internal_error"


class ExportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


class FailureKind(StrEnum):
    """What ``GET /agent-runtime/failures`` lists: failed agent or smoke executions, failed jobs, failed events."""

    EXECUTION = "execution"
    JOB = "job"
    OUTBOX = "outbox"
