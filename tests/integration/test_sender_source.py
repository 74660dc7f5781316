"""One source for the sender (issue 12): who the store's mail is from is the policy's
`store.sender_email` and `store.name`, for customer mail, operator alerts and supplier
requests alike, whatever the SMTP variables say; the Message-ID carries the sender's domain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml

from deployments.setup import DEFAULT_POLICY
from domain.policy import StorePolicy
from ledger import records
from ledger.models import Message
from sandbox.smtp_catcher import RunningCatcher
from tasks import clients, runtime
from tasks.notify import deliver_email
from tests.integration.smtp_fixtures import (  # noqa: F401 - fixtures, registered by import
    catcher_fixture,
    smtp_catcher_fixture,
)

SENDER, NAME = "service@lampes-dupont.fr", "Lampes Dupont"


@pytest.fixture
async def store(db: Any, catcher: RunningCatcher, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[StorePolicy]:
    document = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    document["store"].update(sender_email=SENDER, name=NAME)
    policy = StorePolicy.model_validate(document)
    await records.save_policy(db, policy.store.id, policy.version(), policy.model_dump(mode="json"))
    monkeypatch.setenv("AFTERSALES_SMTP_HOST", catcher.host)
    monkeypatch.setenv("AFTERSALES_SMTP_PORT", str(catcher.smtp_port))
    # The variables earlier versions read: ignored now (setup refuses them when they differ).
    monkeypatch.setenv("AFTERSALES_SMTP_SENDER_ADDRESS", "bonjour@maison-lumiere.example")
    monkeypatch.setenv("AFTERSALES_SMTP_SENDER_NAME", "Maison Lumière")
    runtime.clear_settings_cache()
    yield policy
    monkeypatch.undo()
    runtime.clear_settings_cache()


async def logged(db: Any) -> list[Message]:
    from sqlmodel import select

    async with db.session() as s:
        return list((await s.exec(select(Message))).all())


@pytest.fixture(autouse=True)
def plain_render(monkeypatch: pytest.MonkeyPatch) -> None:
    """The message text is not what is tested here: any template renders the same short mail."""
    from domain.messages.render import RenderedMessage

    monkeypatch.setattr("tasks.notify.render", lambda template, language, context: RenderedMessage(
        language=language, template=template, subject="Votre demande", text="Bonjour,\n", html=None))


async def deliver(key: str, **extra: Any) -> Any:
    return await deliver_email(case_id=None, natural_key=key, party="customer", template="refund_confirmed",
                               language="fr", context={}, to_address="zoe@example.org", **extra)


async def test_customer_mail_is_from_the_policys_sender(db: Any, store: StorePolicy, catcher: RunningCatcher) -> None:
    await deliver("email:test:sender", reply_to=store.store.support_email)
    [mail] = catcher.messages
    assert mail.envelope_from == SENDER
    assert mail.header("From") == f"{NAME} <{SENDER}>"
    assert mail.message_id.endswith("@lampes-dupont.fr>")
    [row] = await logged(db)
    assert row.from_address == SENDER  # M5: the log says who it was from


async def test_a_planned_email_keeps_its_sender_when_the_policy_changes(db: Any, store: StorePolicy,
                                                                        catcher: RunningCatcher) -> None:
    from domain.errors import IntegrationError
    from ledger import operations as ops
    from tasks.notify import resend_planned_email

    catcher.set_fault("tempfail", count=10)
    with pytest.raises(IntegrationError):  # the SMTP server says "try later": planned, not sent
        await deliver("email:test:later")
    op = await ops.get_operation(db, "email:test:later")
    assert op is not None and op.request["from"] == SENDER
    catcher.clear()
    document = store.model_dump(mode="json")
    document["store"].update(sender_email="autre@lampes-dupont.fr", name="Autre")
    await records.save_policy(db, store.store.id, "changed", document)
    await resend_planned_email.fn("email:test:later")
    [mail] = catcher.messages
    assert mail.header("From") == f"{NAME} <{SENDER}>"


async def test_supplier_requests_are_from_the_policys_sender(store: StorePolicy) -> None:
    from integrations.suppliers.base import CancellationItem, SupplierCancellationRequest
    from integrations.suppliers.email_supplier import EmailSupplier

    request = SupplierCancellationRequest(
        reference="case-1", store_name=NAME, order_name="#1001", order_id="5550001", reason_text="Annulée.",
        items=[CancellationItem(line_item_id="gid://shopify/LineItem/1", title="Lampe", sku="ATL-1", quantity=1)],
        reply_to="")
    async with clients.supplier_channel(store, "atelier-lyon") as channel:
        assert isinstance(channel, EmailSupplier)
        built = channel.build_cancellation_email(request, idempotency_key="op-1")
    assert (built.from_address, built.from_name) == (SENDER, NAME)
    assert built.message_id == "<op-1@lampes-dupont.fr>"
    assert built.reply_to == SENDER
