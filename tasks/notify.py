"""Email tasks: one message = one operation = one email, logged in the case's log (M5)."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from domain.messages import render
from integrations.mailer.message import OutgoingEmail
from ledger import records
from ledger.models import Message, Operation
from tasks import runtime
from tasks.effects import EffectResult, perform
from tasks.retry import TASK_RETRIES, TASK_RETRY_DELAYS, retry_if_retryable


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
    kind: str = "email.customer",
) -> EffectResult:
    """Render, plan, send once, log. The rendered email is stored in the operation's request,
    so every retry sends exactly the same message with the same Message-ID."""
    db = runtime.db()
    rendered = render(template, language, context)
    sender = runtime.smtp_settings().sender_address
    request = {
        "to": to_address, "to_name": to_name, "template": template, "language": language,
        "subject": rendered.subject, "text": rendered.text, "html": rendered.html, "reply_to": reply_to,
    }

    async def call(op: Operation) -> EffectResult:
        req = op.request  # what was planned first, not what was re-rendered now
        email = OutgoingEmail(
            to_address=req["to"], to_name=req.get("to_name"), subject=req["subject"], text=req["text"],
            html=req.get("html"), message_id=f"<{op.idempotency_key}@{runtime.sender_domain()}>",
            reply_to=req.get("reply_to"),
            headers={"X-Aftersales-Case": case_id or "", "X-Aftersales-Template": req["template"]},
        )
        receipt = await runtime.send_email(email)
        await records.log_message(db, Message(
            case_id=case_id, operation_id=op.id, direction="outbound", party=party,
            template=req["template"], language=req["language"], from_address=sender,
            to_address=req["to"], subject=req["subject"], body_text=req["text"], body_html=req.get("html"),
            message_id=receipt.message_id, transport_response=f"{receipt.smtp_code} {receipt.smtp_text}",
        ))
        return EffectResult(data={"message_id": receipt.message_id, "smtp_code": receipt.smtp_code},
                            remote_id=receipt.message_id)

    return await perform(db, natural_key=natural_key, kind=kind, vendor="smtp", case_id=case_id,
                         request=request, call=call)


@task(name="send-customer-email", task_run_name="email-{purpose}-{case_id}", retries=TASK_RETRIES,
      retry_delay_seconds=TASK_RETRY_DELAYS, retry_condition_fn=retry_if_retryable, cache_policy=NO_CACHE)
async def send_customer_email(
    case_id: str, purpose: str, template: str, language: str, context: dict[str, Any],
    to_address: str, to_name: str | None = None,
) -> dict[str, Any]:
    """Write to the customer (M1-M5). `purpose` makes the message unique within the case."""
    policy = await runtime.load_policy()
    result = await deliver_email(
        case_id=case_id, natural_key=f"email:{case_id}:{purpose}", party="customer", template=template,
        language=language, context=context, to_address=to_address, to_name=to_name,
        reply_to=policy.store.support_email,
    )
    return result.data


@task(name="send-operator-alert", task_run_name="alert-{reason_code}-{case_id}", retries=TASK_RETRIES,
      retry_delay_seconds=TASK_RETRY_DELAYS, retry_condition_fn=retry_if_retryable, cache_policy=NO_CACHE)
async def send_operator_alert(case_id: str | None, reason_code: str, context: dict[str, Any]) -> dict[str, Any]:
    """Tell the operator, once per case and reason, that a case needs them."""
    policy = await runtime.load_policy()
    result = await deliver_email(
        case_id=case_id, natural_key=f"email:{case_id}:operator:{reason_code}", party="operator",
        template="operator_alert", language=policy.store.default_language, context=context,
        to_address=policy.store.operator_email, kind="email.operator",
    )
    return result.data
