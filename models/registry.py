"""Every table module, imported so ``SQLModel.metadata`` knows them all."""

from sqlmodel import SQLModel

from models.maintenance import tables as maintenance_tables  # noqa: F401
from models.platform_v1 import engine_tables as platform_v1_engine_tables  # noqa: F401
from models.platform_v1 import enrollment_tables as platform_v1_enrollment_tables  # noqa: F401
from models.platform_v1 import event_tables as platform_v1_event_tables  # noqa: F401
from models.platform_v1 import ingest_tables as platform_v1_ingest_tables  # noqa: F401
from models.platform_v1 import job_tables as platform_v1_job_tables  # noqa: F401
from models.platform_v1 import tables as platform_v1_tables  # noqa: F401
from models.protocols import artifact, event, project, protocol, webhook  # noqa: F401
from models.tasks import tables as task_tables  # noqa: F401

metadata = SQLModel.metadata
