"""The body of each resource of the engine, in its wire shape (camelCase JSON).

Unknown fields are refused (a typo is a 400, not silently lost); strings are bounded; enums list
their values; references to other resources hold their ids (``cli_…``) and are checked against the
workspace by the engine (``models.platform_v1.catalog`` says which). Dates are ISO 8601 (``2026-05-13``),
times ISO 8601 with a zone, stored and answered in UTC with six decimals (``2026-05-13T08:00:00.000000Z``:
one width, so a list sorted by a time is in time order), money a non-negative number with a 3-letter
currency, exact (``models.platform_v1.money``: at most 2 decimal places, a ``Decimal``, never a float's rounding).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer

from models.platform_v1.money import Money, PositiveMoney, Quantity

Name = Annotated[str, Field(min_length=1, max_length=200)]
Text = Annotated[str, Field(max_length=20_000)]
Short = Annotated[str, Field(min_length=1, max_length=100)]
Ref = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z]+_[0-9a-f]{32}$")]
Tags = Annotated[list[Annotated[str, Field(min_length=1, max_length=50)]], Field(max_length=50)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("a time needs its zone: 2026-05-13T10:00:00Z")
    return moment.astimezone(UTC)


def _utc_text(moment: datetime) -> str:
    """One width for every time (sorting the stored text sorts by time): ``2026-05-13T08:00:00.000000Z``."""
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


Moment = Annotated[datetime, AfterValidator(_aware), PlainSerializer(_utc_text, return_type=str, when_used="json")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ClientStatus(StrEnum):
    PROSPECT = "prospect"
    ACTIVE = "active"
    INACTIVE = "inactive"


class Client(Body):
    name: Name
    status: ClientStatus = ClientStatus.ACTIVE
    industry: Short | None = None
    website: Annotated[str, Field(max_length=500)] | None = None
    email: Annotated[str, Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    phone: Annotated[str, Field(max_length=50)] | None = None
    notes: Text | None = None
    tags: Tags = []


class Contact(Body):
    clientId: Ref
    firstName: Short
    lastName: Short
    email: Annotated[str, Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    phone: Annotated[str, Field(max_length=50)] | None = None
    title: Short | None = None
    isPrimary: bool = False


class Site(Body):
    clientId: Ref
    name: Name
    address: Annotated[str, Field(max_length=500)] | None = None
    city: Short | None = None
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    timezone: Short | None = None


class AssetType(StrEnum):
    SERVER = "server"
    WORKSTATION = "workstation"
    LAPTOP = "laptop"
    NETWORK = "network"
    PRINTER = "printer"
    MOBILE = "mobile"
    CLOUD = "cloud"
    OTHER = "other"


class AssetStatus(StrEnum):
    ACTIVE = "active"
    MAINTENANCE = "maintenance"
    RETIRED = "retired"
    LOST = "lost"


class Asset(Body):
    clientId: Ref
    siteId: Ref | None = None
    name: Name
    type: AssetType
    status: AssetStatus = AssetStatus.ACTIVE
    serialNumber: Short | None = None
    ipAddress: Annotated[str, Field(max_length=45)] | None = None
    operatingSystem: Short | None = None
    tags: Tags = []


class TicketStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED = "closed"


class TicketPriority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


PRIORITY_RANK = tuple(TicketPriority)


class Ticket(Body):
    clientId: Ref
    title: Name
    description: Text | None = None
    status: TicketStatus = TicketStatus.NEW
    priority: TicketPriority = TicketPriority.MEDIUM
    assetId: Ref | None = None
    contactId: Ref | None = None
    assignee: Short | None = None
    dueAt: Moment | None = None
    tags: Tags = []


class AlertSeverity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


SEVERITY_RANK = tuple(AlertSeverity)


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Alert(Body):
    title: Name
    severity: AlertSeverity
    status: AlertStatus = AlertStatus.OPEN
    clientId: Ref | None = None
    assetId: Ref | None = None
    ticketId: Ref | None = None
    source: Short | None = None
    details: Text | None = None


class IncidentSeverity(StrEnum):
    SEV1 = "sev1"
    SEV2 = "sev2"
    SEV3 = "sev3"
    SEV4 = "sev4"


class IncidentStatus(StrEnum):
    OPEN = "open"
    INVESTIGATING = "investigating"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Incident(Body):
    clientId: Ref
    title: Name
    severity: IncidentSeverity
    status: IncidentStatus = IncidentStatus.OPEN
    summary: Text | None = None
    startedAt: Moment | None = None
    resolvedAt: Moment | None = None


class ChangeType(StrEnum):
    STANDARD = "standard"
    NORMAL = "normal"
    EMERGENCY = "emergency"


class ChangeStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    SCHEDULED = "scheduled"
    IMPLEMENTED = "implemented"
    CLOSED = "closed"


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Change(Body):
    clientId: Ref
    title: Name
    type: ChangeType = ChangeType.NORMAL
    status: ChangeStatus = ChangeStatus.DRAFT
    risk: Risk = Risk.MEDIUM
    description: Text | None = None
    scheduledFor: Moment | None = None


class ContractType(StrEnum):
    MANAGED_SERVICES = "managed_services"
    PROJECT = "project"
    RETAINER = "retainer"
    SUPPORT = "support"


class ContractStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    EXPIRED = "expired"
    TERMINATED = "terminated"


class Contract(Body):
    clientId: Ref
    name: Name
    type: ContractType
    status: ContractStatus = ContractStatus.DRAFT
    startDate: date
    endDate: date | None = None
    monthlyValue: Money = Decimal(0)
    currency: Currency = "USD"


class QuoteStatus(StrEnum):
    DRAFT = "draft"
    SENT = "sent"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"


class QuoteLine(Body):
    description: Name
    quantity: Quantity
    unitPrice: Money


class Quote(Body):
    clientId: Ref
    title: Name
    status: QuoteStatus = QuoteStatus.DRAFT
    lines: Annotated[list[QuoteLine], Field(max_length=200)] = []
    currency: Currency = "USD"
    validUntil: date | None = None


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    PAID = "paid"
    OVERDUE = "overdue"
    VOID = "void"


class Invoice(Body):
    clientId: Ref
    contractId: Ref | None = None
    number: Short
    status: InvoiceStatus = InvoiceStatus.DRAFT
    issueDate: date
    dueDate: date
    amount: Money
    currency: Currency = "USD"


class PaymentMethod(StrEnum):
    CARD = "card"
    BANK_TRANSFER = "bank_transfer"
    CHECK = "check"
    CASH = "cash"
    OTHER = "other"


class Payment(Body):
    invoiceId: Ref
    amount: PositiveMoney
    currency: Currency = "USD"
    method: PaymentMethod
    receivedAt: Moment
    reference: Short | None = None


class Runbook(Body):
    title: Name
    description: Text | None = None
    category: Short | None = None
    steps: Annotated[list[Annotated[str, Field(min_length=1, max_length=2000)]], Field(min_length=1, max_length=100)]
    tags: Tags = []


class ArticleVisibility(StrEnum):
    INTERNAL = "internal"
    PORTAL = "portal"


class Article(Body):
    title: Name
    body: Annotated[str, Field(min_length=1, max_length=100_000)]
    category: Short | None = None
    visibility: ArticleVisibility = ArticleVisibility.INTERNAL
    tags: Tags = []
