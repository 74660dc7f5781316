"""Email tasks: one message = one operation = one email, logged in the case's log (M5)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from domain.cases import CaseKind
from domain.messages import render
from domain.operations import OperationKind
from integrations.mailer.message import OutgoingEmail
from ledger import cases, records
from ledger import operations as ops
from ledger.models import Case, Message, Operation
from tasks import clients, runtime
from tasks.effects import EffectResult, perform
from tasks.page_links import case_link
from tasks.retry import retry_delays, retry_if_retryable


@dataclass(frozen=True, slots=True)
class EmailSent:
    """An email sent once (M5), as the ledger recorded it (a replay returns the first send's
    record). A module-level frozen dataclass (issue 22: a typed result)."""

    message_id: str | None = None
    smtp_code: int | None = None
    operation_id: str | None = None

    @classmethod
    def of(cls, result: EffectResult) -> EmailSent:
        code = result.data.get("smtp_code")
        return cls(message_id=result.data.get("message_id"), smtp_code=int(code) if code is not None else None,
                   operation_id=result.operation_id)


async def deliver_email(
    *,
    case_id: str | None,
    natural_key: str,
    party: str,
    template: str,
    language: str,
    context: dict[str, Any],
    to_address: str,
    to_name: str | None = None,
    reply_to: str | None = None,
    kind: OperationKind = OperationKind.EMAIL_CUSTOMER,
) -> EffectResult:
    """Render, plan, send once, log. The rendered email is stored in the operation's request,
    so every retry sends exactly the same message with the same Message-ID. The sender is the
    store's, from its policy (`store.sender_email`, `store.name`), fixed in the plan too."""
    db = runtime.db()
    store = (await runtime.load_policy()).store
    rendered = render(template, language, context)
    request = {
        "from": store.sender_email, "from_name": store.name,
        "to": to_address, "to_name": to_name, "template": template, "language": language, "party": party,
        "subject": rendered.subject, "text": rendered.text, "html": rendered.html, "reply_to": reply_to,
    }
    return await perform(db, natural_key=natural_key, kind=kind, vendor="smtp", case_id=case_id,
                         request=request, call=_sender(case_id))


def _sender(case_id: str | None) -> Callable[[Operation], Awaitable[EffectResult]]:
    """Send exactly the planned email (from the operation row), then log it (M5)."""
    db = runtime.db()

    async def call(op: Operation) -> EffectResult:
        req = op.request  # what was planned first, not what was re-rendered now
        sender, sender_name = req.get("from"), req.get("from_name")
        if sender is None:  # planned before the sender was part of the plan: the policy's, as then
            store = (await runtime.load_policy()).store
            sender, sender_name = store.sender_email, store.name
        email = OutgoingEmail(
            from_address=sender, from_name=sender_name,
            to_address=req["to"], to_name=req.get("to_name"), subject=req["subject"], text=req["text"],
            html=req.get("html"), message_id=f"<{op.idempotency_key}@{runtime.sender_domain(sender)}>",
            reply_to=req.get("reply_to"),
            headers={"X-Aftersales-Case": case_id or "", "X-Aftersales-Template": req["template"]},
        )
        receipt = await clients.send_email(email)
        await records.log_message(db, Message(
            case_id=case_id, operation_id=op.id, direction="outbound", party=req.get("party", "customer"),
            template=req["template"], language=req["language"], from_address=sender,
            to_address=req["to"], subject=req["subject"], body_text=req["text"], body_html=req.get("html"),
            message_id=receipt.message_id, transport_response=f"{receipt.smtp_code} {receipt.smtp_text}",
        ))
        return EffectResult(data={"message_id": receipt.message_id, "smtp_code": receipt.smtp_code},
                            remote_id=receipt.message_id)

    return call


@task(name="resend-planned-email", task_run_name="resend-{natural_key}", cache_policy=NO_CACHE)
async def resend_planned_email(natural_key: str) -> EmailSent:
    """Send an email whose earlier attempts failed for a transient reason (SMTP down, 4xx).
    Same operation, same stored message, same Message-ID: once, whenever it goes through."""
    db = runtime.db()
    op = await ops.get_operation(db, natural_key)
    if op is None:
        raise LookupError(natural_key)
    result = await perform(db, natural_key=natural_key, kind=OperationKind(op.kind), vendor=op.vendor,
                           case_id=op.case_id, request=op.request, call=_sender(op.case_id))
    return EmailSent.of(result)


# Short in-run retries only: an SMTP outage must not hold a run for long. The scheduled check
# (flows.sweep.retry_failed_emails) owns the long horizon, from the stored operation.
EMAIL_RETRIES = 2
EMAIL_PRODUCTION_RETRY_DELAYS: list[float] = [2, 10]
EMAIL_RETRY_DELAYS: list[float] = retry_delays(EMAIL_PRODUCTION_RETRY_DELAYS)  # AFTERSALES_TASK_RETRY_DELAY_SCALE


@task(name="send-customer-email", task_run_name="email-{purpose}-{case_id}", retries=EMAIL_RETRIES,
      retry_delay_seconds=EMAIL_RETRY_DELAYS, retry_condition_fn=retry_if_retryable, cache_policy=NO_CACHE)
async def send_customer_email(
    case_id: str, purpose: str, template: str, language: str, context: dict[str, Any],
    to_address: str, to_name: str | None = None,
) -> EmailSent:
    """Write to the customer (M1-M5). `purpose` makes the message unique within the case. Every
    customer email carries the signed link to the customer's page when the page has a public
    address (issue 21): the case's page for a cancellation or a return, the order's otherwise."""
    policy = await runtime.load_policy()
    if "page_url" not in context:
        try:
            case: Case | None = await cases.get_case(runtime.db(), case_id)
        except LookupError:
            case = None
        if case is not None:
            context = {**context, "page_url": case_link(
                case.order_name, case.order_ref, language,
                path="/case" if case.kind in (CaseKind.CANCELLATION, CaseKind.RETURN) else "")}
    result = await deliver_email(
        case_id=case_id, natural_key=f"email:{case_id}:{purpose}", party="customer", template=template,
        language=language, context=context, to_address=to_address, to_name=to_name,
        reply_to=policy.store.support_email,
    )
    return EmailSent.of(result)


@task(name="send-operator-alert", task_run_name="alert-{reason_code}-{case_id}", retries=EMAIL_RETRIES,
      retry_delay_seconds=EMAIL_RETRY_DELAYS, retry_condition_fn=retry_if_retryable, cache_policy=NO_CACHE)
async def send_operator_alert(case_id: str | None, reason_code: str, context: dict[str, Any]) -> EmailSent:
    """Tell the operator, once per case and reason, that a case needs them."""
    policy = await runtime.load_policy()
    result = await deliver_email(
        case_id=case_id, natural_key=f"email:{case_id}:operator:{reason_code}", party="operator",
        template="operator_alert", language=policy.store.operator_language, context=context,
        to_address=policy.store.operator_email, kind=OperationKind.EMAIL_OPERATOR,
    )
    return EmailSent.of(result)
