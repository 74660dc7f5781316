"""Issue 18 review: a From address is only a claim. The receiving server (Gmail, Microsoft 365,
OVH) checks it and writes the result in `Authentication-Results` (RFC 8601); a mail whose From it
could not vouch for moves no case, whoever it claims to be."""

from __future__ import annotations

from email.message import EmailMessage
from types import SimpleNamespace
from typing import Any

import pytest

from domain.email_replies import Step, parse_email
from ledger.models import Case
from tasks.inbound_mail import Thread, _sender_ok

SUPPLIER = "commandes@atelier-lyon.example"


def _mail(*results: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = f"Atelier <{SUPPLIER}>", "shop@example.com", "Re: commande #1001"
    for value in results:
        msg["Authentication-Results"] = value
    msg.set_content("Bonjour, la commande est déjà expédiée.")
    return bytes(msg)


GMAIL_FORGED = ("mx.google.com; dkim=none; spf=softfail (google.com: domain of transitioning "
                f"{SUPPLIER} does not designate 203.0.113.9 as permitted sender) smtp.mailfrom={SUPPLIER}; "
                "dmarc=fail (p=NONE sp=NONE dis=NONE) header.from=atelier-lyon.example")
M365_FORGED = ("spf=fail (sender IP is 203.0.113.9) smtp.mailfrom=atelier-lyon.example; dkim=none (message not "
               "signed) header.d=none;dmarc=fail action=none header.from=atelier-lyon.example;compauth=fail reason=000")
GMAIL_OK = ("mx.google.com; dkim=pass header.i=@atelier-lyon.example header.s=s1 header.b=abc; spf=pass "
            f"smtp.mailfrom={SUPPLIER}; dmarc=pass (p=REJECT) header.from=atelier-lyon.example")
OVH_DKIM_ONLY = ("mx4.mail.ovh.net; spf=softfail smtp.mailfrom=atelier-lyon.example; "
                 "dkim=pass header.d=atelier-lyon.example")


@pytest.mark.parametrize(("headers", "forged"), [
    ((GMAIL_FORGED,), True), ((M365_FORGED,), True), ((GMAIL_OK,), False), ((OVH_DKIM_ONLY,), False), ((), False),
    # the sender's own "pass" cannot hide the receiving server's "fail" below or above it
    ((GMAIL_FORGED, GMAIL_OK), True), ((GMAIL_OK, GMAIL_FORGED), True),
])
def test_the_receiving_servers_failed_check_is_kept(headers: tuple[str, ...], forged: bool) -> None:
    assert (parse_email(_mail(*headers)).spoofed is not None) == forged


def _thread() -> tuple[Thread, Any]:
    case = Case(key="cancellation:s:1", store_id="s", kind="cancellation", state="awaiting_supplier",
                order_name="#1001", customer_email="alice@example.com", data={"suppliers_asked": {"atelier": {}}})
    policy = SimpleNamespace(suppliers=[SimpleNamespace(id="atelier", email=SUPPLIER)])
    return Thread(case, "supplier", Step.SUPPLIER_CANCELLATION, "atelier", "In-Reply-To"), policy


def test_a_forged_supplier_address_does_not_move_the_case() -> None:
    thread, policy = _thread()
    assert _sender_ok(parse_email(_mail(GMAIL_OK)), thread, policy)
    assert _sender_ok(parse_email(_mail()), thread, policy)  # no check written: the From is all there is
    assert not _sender_ok(parse_email(_mail(GMAIL_FORGED)), thread, policy)
    assert not _sender_ok(parse_email(_mail(M365_FORGED)), thread, policy)


@pytest.mark.skipif(not hasattr(__import__("os"), "umask"), reason="POSIX permissions")
def test_kept_attachments_are_readable_by_their_owner_only(tmp_path: Any) -> None:
    """Issue 18 review: customers' photos and labels were written world-readable (umask 022)."""
    import os
    import stat

    from integrations.mail.imap import MailboxSettings
    from tasks.inbound_mail import keep_attachments

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "alice@example.com", "shop@example.com", "photos"
    msg.set_content("Voici la photo.")
    msg.add_attachment(b"\xff\xd8\xff\xe0 photo", maintype="image", subtype="jpeg", filename="casse.jpg")
    folder = tmp_path / "mail-attachments"
    old = os.umask(0o022)
    try:
        (entry,) = keep_attachments(parse_email(bytes(msg)), MailboxSettings(attachment_dir=str(folder)))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(entry["path"]).st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    with open(entry["path"], "rb") as kept:
        assert kept.read() == b"\xff\xd8\xff\xe0 photo"
    assert [p.name for p in folder.iterdir()] == [os.path.basename(entry["path"])]
