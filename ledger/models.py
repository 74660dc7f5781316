"""The ledger: the single source of truth of every process (the three promises).

- `InboundEvent`: every webhook and customer request, stored before it is acknowledged,
  unique by (source, delivery id) so a redelivery is recognised (promise 1).
- `Case`: one per order and process, with its state machine (domain.cases) and a lock so
  one run at a time advances it.
- `OrderLock`: one step at a time opens a case on an order (the return intake, R*, L221-18).
- `CaseEvent`: the case timeline (what happened, decided, sent), shown in the Prefect UI.
- `Operation`: one row per outside side effect, unique natural key, planned before the call,
  idempotency key derived once and resent on every retry, result recorded after (promise 2).
- `Deadline`: every deadline of every process, acted on by the scheduled check (promise 3).
- `Message`: the communication log (M5), chargeback evidence (K3).
- `RefundRecord`: the refund archive (F2).
- `ReviewItem`: the operator's queue: whatever the automation cannot finish.
- `StorePolicyRow`: the store policy as loaded, by content hash.
- `VendorToken`: vendor access tokens (CJ allows one token request per 5 minutes), encrypted.
- `CarrierQuota`: the calls made to a carrier account per day, counted by every worker (DHL's
  daily quota, issue 19).
- `MailboxMark`: the last UID of the merchant's mailbox already stored, per folder and
  UIDVALIDITY: the poller reads above it (issue 18).
- `PrivacyRequest`: a customer's data request or erasure (GDPR; Shopify's compliance webhooks,
  or by email through the operator), with its legal deadline, until it is carried out.
- `StoredFile`: a file the product wrote from a customer's or a supplier's upload (photos on the
  customer page, email attachments), so erasure and retention reach it (ledger/files.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from ledger.columns import UTCDateTime

_clock: Callable[[], datetime] | None = None


def utcnow() -> datetime:
    """The one clock of the product (flows, tasks, ledger). Tests travel in time with `set_clock`."""
    return _clock() if _clock is not None else datetime.now(UTC)


def set_clock(clock: Callable[[], datetime] | None) -> None:
    """Inject a clock (aware datetimes, UTC); None restores the real one."""
    global _clock
    _clock = clock


def new_id() -> str:
    return uuid4().hex


def _ts(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _json() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class InboundEvent(SQLModel, table=True):
    __tablename__ = "inbound_event"
    __table_args__ = (
        UniqueConstraint("source", "delivery_id", name="uq_inbound_source_delivery"),
        Index("ix_inbound_status_received", "status", "received_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    source: str  # shopify | customer | operator | cj | stripe | paypal
    delivery_id: str | None = None  # X-Shopify-Webhook-Id, Stripe event id, request id...
    topic: str  # orders/cancelled, cancellation.requested, supplier.reply...
    store_id: str | None = None
    order_ref: str | None = Field(default=None, index=True)  # numeric order id when known
    received_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    headers: dict[str, Any] = _json()
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    status: str = "received"  # received | emitted | processed | ignored | rejected | failed
    reject_reason: str | None = None
    http_status: int | None = None
    event_name: str | None = None  # the Prefect event it becomes
    resource_id: str | None = None
    emit_attempts: int = 0  # emissions tried, failed ones included (the Prefect event's generation)
    redeliveries: int = Field(default=0, sa_column_kwargs={"server_default": "0"})  # emitted again: no run took it
    emitted_at: datetime | None = _ts()
    processed_at: datetime | None = _ts()
    case_id: str | None = Field(default=None, index=True)
    last_error: str | None = Field(default=None, sa_column=Column(Text))


class Case(SQLModel, table=True):
    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_store_kind_state", "store_id", "kind", "state"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    key: str = Field(unique=True)  # "cancellation:{store}:{order}" - one case per order and process
    store_id: str
    kind: str  # cancellation | return | dispute
    state: str
    order_id: str | None = None  # gid://shopify/Order/...
    order_ref: str | None = Field(default=None, index=True)  # numeric order id
    order_name: str | None = None  # "#1001"
    customer_email: str | None = None
    customer_first_name: str | None = None
    language: str = "en"
    reason: str | None = None
    reason_note: str | None = Field(default=None, sa_column=Column(Text))
    origin: str = "customer"  # customer | store | operator | supplier
    opened_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    closed_at: datetime | None = _ts()
    policy_version: str | None = None
    data: dict[str, Any] = _json()
    needs_operator_reason: str | None = None
    lock_owner: str | None = None
    lock_until: datetime | None = _ts()
    version: int = 0


class OrderLock(SQLModel, table=True):
    """A lock on one order of one store for a step that reads the order's cases then opens one
    (the return intake: `flows.returns._open`, `open_withdrawal_return`). Flow runs are separate
    processes: two requests for the same lines taken in at once each read "no open return holds
    them" and each open a case (two acknowledgements, a second refund Shopify refuses). The row
    exists while held (deleted on release); a holder that died keeps it until `lock_until`."""

    __tablename__ = "order_lock"

    key: str = Field(primary_key=True)  # "return-intake:{store}:{order_ref}"
    lock_owner: str
    lock_until: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class CaseEvent(SQLModel, table=True):
    __tablename__ = "case_event"

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="cases.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    kind: str  # state | decision | operation | message | deadline | inbound | note
    summary: str = Field(sa_column=Column(Text, nullable=False))
    actor: str = "aftersales"
    data: dict[str, Any] = _json()


class Operation(SQLModel, table=True):
    __tablename__ = "operation"
    __table_args__ = (Index("ix_operation_status", "status"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    case_id: str | None = Field(default=None, foreign_key="cases.id", index=True)
    natural_key: str = Field(unique=True)  # e.g. "shopify.refund:{case}:{lines}"
    kind: str  # shopify.order_cancel | shopify.refund_create | email.customer | supplier.cancel ...
    vendor: str
    idempotency_key: str
    status: str = "planned"  # planned | in_flight | succeeded | failed | ambiguous
    attempts: int = 0
    retryable: bool = True
    request: dict[str, Any] = _json()
    result: dict[str, Any] = _json()
    remote_id: str | None = None
    error_code: str | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    planned_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    started_at: datetime | None = _ts()
    claim_until: datetime | None = _ts()  # a live attempt's lease; expired or cleared = that attempt is dead
    finished_at: datetime | None = _ts()


class Deadline(SQLModel, table=True):
    __tablename__ = "deadline"
    __table_args__ = (
        UniqueConstraint("case_id", "kind", name="uq_deadline_case_kind"),
        Index("ix_deadline_status_act", "status", "act_at"),  # the due ones (due_deadlines)
        # the soonest due of the open and escalated ones (upcoming_deadlines), migration 0003
        Index("ix_deadline_pending_due", "due_at", postgresql_where=text("status IN ('open', 'escalated')"),
              sqlite_where=text("status IN ('open', 'escalated')")),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    case_id: str = Field(foreign_key="cases.id", index=True)
    kind: str  # supplier_answer | retention_hold | legal_refund | withdrawal | evidence_due ...
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    act_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))  # due minus margin
    status: str = "open"  # open | met | acted | escalated | cancelled
    action: str  # what the scheduled check does when act_at passes
    note: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    resolved_at: datetime | None = _ts()
    last_checked_at: datetime | None = _ts()
    check_attempts: int = 0


class Message(SQLModel, table=True):
    __tablename__ = "message"

    id: str = Field(default_factory=new_id, primary_key=True)
    case_id: str | None = Field(default=None, foreign_key="cases.id", index=True)
    operation_id: str | None = Field(default=None, index=True)
    direction: str = "outbound"  # outbound | inbound
    party: str  # customer | supplier | operator
    channel: str = "email"
    template: str | None = None
    language: str | None = None
    from_address: str
    to_address: str
    subject: str = Field(sa_column=Column(Text, nullable=False))
    body_text: str = Field(sa_column=Column(Text, nullable=False))
    body_html: str | None = Field(default=None, sa_column=Column(Text))
    message_id: str | None = Field(default=None, index=True)
    in_reply_to: str | None = None
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    transport_response: str | None = None


class RefundRecord(SQLModel, table=True):
    __tablename__ = "refund"

    id: str = Field(default_factory=new_id, primary_key=True)
    case_id: str = Field(foreign_key="cases.id", index=True)
    operation_id: str = Field(unique=True)
    store_id: str
    order_id: str
    amount: str  # exact decimal text; Money(amount, currency) in code
    currency: str
    method: str  # original | store_credit
    gateway: str | None = None
    reference: str | None = None  # Shopify refund id, Stripe re_..., PayPal refund id
    reason: str
    actor: str = "aftersales"
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


CASELESS_OPEN = "case_id IS NULL AND status = 'open' AND reason_code NOT LIKE 'privacy%'"


class ReviewItem(SQLModel, table=True):
    __tablename__ = "review_item"
    __table_args__ = (
        UniqueConstraint("case_id", "reason_code", name="uq_review_case_reason"),
        Index("ix_review_status", "status", "created_at"),
        # An item without a case is once per reason while open (records.open_review): the constraint
        # above does not hold for a NULL case_id. Privacy items are once per request instead
        # (privacy.open_privacy_review: one reason for many requests), so not here. Migration 0010.
        Index("uq_review_caseless_open", "reason_code", unique=True,
              postgresql_where=text(CASELESS_OPEN), sqlite_where=text(CASELESS_OPEN)),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    case_id: str | None = Field(default=None, foreign_key="cases.id")
    reason_code: str  # supplier_silent | supplier_refused | ambiguous_email | ...
    detail: str = Field(sa_column=Column(Text, nullable=False))
    options: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = "open"  # open | decided | dismissed
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    decided_at: datetime | None = _ts()
    decided_by: str | None = None
    decision: dict[str, Any] = _json()


class StorePolicyRow(SQLModel, table=True):
    __tablename__ = "store_policy"

    store_id: str = Field(primary_key=True)
    version: str
    document: dict[str, Any] = _json()
    loaded_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class VendorToken(SQLModel, table=True):
    __tablename__ = "vendor_token"

    key: str = Field(primary_key=True)  # e.g. "cj:<hash of api key>"
    ciphertext: str = Field(sa_column=Column(Text, nullable=False))  # Fernet, key from the vendor secret
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class PrivacyRequest(SQLModel, table=True):
    """One data request (export) or erasure, recorded when it arrives and carried out by the
    scheduled check (or at once by the operator's command); `due_at` is the 30-day answer the law
    (GDPR art. 12(3): one month) and Shopify ask for. Once done, the customer's identifiers here
    are replaced by a hash: the request is proven without keeping whom it was about."""

    __tablename__ = "privacy_request"
    __table_args__ = (Index("ix_privacy_request_status_due", "status", "due_at"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    key: str = Field(unique=True)  # "shopify:<webhook id>" | "operator:<hash of kind, email, day>"
    kind: str  # export | erase | shop_erase
    origin: str  # shopify | operator
    store_id: str | None = None
    customer_email: str | None = None
    customer_phone: str | None = None
    customer_ref: str | None = None  # the store's customer id
    order_refs: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    inbound_event_id: str | None = None
    received_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status: str = "open"  # open | done | failed
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    completed_at: datetime | None = _ts()
    result: dict[str, Any] = _json()  # counts of rows erased, the export file, the fingerprint


class CarrierEvent(SQLModel, table=True):
    """A carrier's event for a parcel (issue 19): read by polling or pushed by the aggregator's
    webhook, kept with the carrier's own code beside the mapped status, deduplicated on `key`
    (carrier, number, code, time). The proof of receipt (D1), of a return's arrival (R5/R6) and
    the dispute record (K3) are read from here."""

    __tablename__ = "carrier_event"
    __table_args__ = (Index("ix_carrier_event_number", "tracking_number", "happened_at"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    key: str = Field(unique=True)
    store_id: str | None = None
    carrier: str  # laposte | dhl | aftership:<slug>
    tracking_number: str
    code: str  # the carrier's own code (DI1, delivered, Delivered_001)
    status: str  # domain.tracking.TrackingStatus
    happened_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    city: str | None = None
    postcode: str | None = None
    country: str | None = None
    source: str = "poll"  # poll | webhook
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class CarrierQuota(SQLModel, table=True):
    """The calls made to a carrier account in one day (issue 19: DHL Unified's daily quota),
    counted by every worker: a call is made only after `ledger.tracking.take_daily_call` added
    it here under the day's limit, in one atomic statement (an upsert), so several workers
    together stay under the quota."""

    __tablename__ = "carrier_quota"

    account: str = Field(primary_key=True)  # carrier:<hash of the API key>, never the key
    day: str = Field(primary_key=True)  # YYYY-MM-DD, UTC
    used: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class MailboxMark(SQLModel, table=True):
    """How far the mailbox poller has read (issue 18, docs/inbound-email.md): every message of
    `mailbox` (host, login, folder) with UIDVALIDITY `uidvalidity` and a UID up to `last_uid` was
    stored and marked, or was older than the first poll's window. The next poll asks for the UIDs
    above it, however long the poller was stopped. A new UIDVALIDITY (the folder rebuilt) has no
    mark yet: a first poll again."""

    __tablename__ = "mailbox_mark"

    mailbox: str = Field(primary_key=True)
    uidvalidity: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    last_uid: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class StoredFile(SQLModel, table=True):
    """A file written on disk from what someone sent (issue 21, issue 18): a photo uploaded on the
    customer page, an email's attachment. Recorded before the file is written, so nothing on disk
    escapes erasure (GDPR art. 17) and retention (art. 5(1)(e)): the scheduled check deletes it
    `privacy.upload_retention_days` after its order's last case closed (ledger/files.py). An
    erasure asked while a return or a dispute of its order is open keeps it for that claim
    (art. 17(3)(e)) and marks it (`erase_requested_at`): deleted when the claim ends."""

    __tablename__ = "stored_file"
    __table_args__ = (Index("ix_stored_file_live", "deleted_at", "stored_at"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    key: str = Field(unique=True)  # "page:<order ref>:<file name>" | "email:<inbound event id>:<sha256>"
    origin: str  # page | email
    path: str  # absolute path of the file
    name: str  # its file name (content hash + extension): what the ledger's references hold
    store_id: str | None = None
    order_ref: str | None = Field(default=None, index=True)
    case_id: str | None = Field(default=None, index=True)
    inbound_event_id: str | None = None
    stored_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    erase_requested_at: datetime | None = _ts()  # an erasure waits for an open claim to end
    hold_reason: str | None = None  # why it was kept (art. 17(3)(e)): the open case
    deleted_at: datetime | None = _ts()
    deleted_because: str | None = None  # erasure | retention
