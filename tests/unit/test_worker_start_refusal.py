"""The fork worker fails closed (issue 13, issue 16): `python -m deployments.worker` outside sandbox
mode without the store's Shopify secrets, or with a vendor the store configured but not its
secrets (or the sandbox's public values), refuses to start with one line naming the variables and
exit 2, before its warm parent and before any run, as the receiver, the order consumer and setup
do. In sandbox mode (the demo, the tests, the fault lab: AFTERSALES_SANDBOX=1) it starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deployments import worker

ROOT = Path(__file__).resolve().parents[2]
SHOPIFY = {"AFTERSALES_SHOPIFY_SHOP_DOMAIN": "real.myshopify.com", "AFTERSALES_SHOPIFY_ACCESS_TOKEN": "shpat_real",
           "AFTERSALES_SHOPIFY_WEBHOOK_SECRET": "a-real-secret"}


def _start(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """The worker as an operator starts it, in a clean environment: no AFTERSALES_SANDBOX, no
    AFTERSALES_* but what is given, a Prefect home of its own."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PREFECT_HOME": str(tmp_path / "prefect"),
           "PREFECT_API_URL": "http://127.0.0.1:9/api", **settings}  # nothing listens there: never reached
    return subprocess.run([sys.executable, "-m", "deployments.worker", "--limit", "1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False)


def test_the_worker_refuses_to_start_without_the_stores_secrets(tmp_path: Path) -> None:
    done = _start(tmp_path)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line == ("the worker refuses to start: set AFTERSALES_SHOPIFY_ACCESS_TOKEN, AFTERSALES_SHOPIFY_SHOP_DOMAIN, "
                    "AFTERSALES_SHOPIFY_WEBHOOK_SECRET (the sandbox's public values are used only with "
                    "AFTERSALES_SANDBOX=1)")


def test_the_worker_refuses_a_configured_vendor_without_its_secrets_or_with_the_sandboxs(tmp_path: Path) -> None:
    done = _start(tmp_path, **SHOPIFY,
                  AFTERSALES_STRIPE_API_KEY="sk_live_real",  # Stripe configured, its webhook secret not set
                  AFTERSALES_PAYPAL_CLIENT_ID="real-id", AFTERSALES_PAYPAL_CLIENT_SECRET="real-secret",
                  AFTERSALES_PAYPAL_WEBHOOK_ID="real-hook",
                  AFTERSALES_CJ_API_KEY="CJ0000000@api@sandbox",  # the sandbox's public key, outside sandbox
                  AFTERSALES_MAILBOX_HOST="imap.example.com")  # a mailbox without its login
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("the worker refuses to start: set ")
    named = line.removeprefix("the worker refuses to start: set ").split(" (the sandbox")[0]
    assert named == ("AFTERSALES_CJ_API_KEY, AFTERSALES_MAILBOX_PASSWORD or AFTERSALES_MAILBOX_OAUTH2_TOKEN or "
                     "AFTERSALES_MAILBOX_OAUTH2_REFRESH_TOKEN, AFTERSALES_MAILBOX_USERNAME, "
                     "AFTERSALES_STRIPE_WEBHOOK_SECRET")


def test_a_setting_that_is_not_a_value_is_one_line_naming_it_not_a_traceback(tmp_path: Path) -> None:
    done = _start(tmp_path, **SHOPIFY, AFTERSALES_SHOPIFY_TIMEOUT_SECONDS="abc")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "abc" not in done.stderr  # the value itself is never echoed
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("the worker refuses to start: invalid setting AFTERSALES_SHOPIFY_TIMEOUT_SECONDS ("), line


def _production(monkeypatch: pytest.MonkeyPatch, **settings: str) -> None:
    monkeypatch.delenv("AFTERSALES_SANDBOX", raising=False)
    for name in list(os.environ):
        if name.startswith(("AFTERSALES_SHOPIFY_", "AFTERSALES_STRIPE_", "AFTERSALES_PAYPAL_", "AFTERSALES_CJ_",
                            "AFTERSALES_LAPOSTE_", "AFTERSALES_DHL_", "AFTERSALES_AFTERSHIP_", "AFTERSALES_PAGE_",
                            "AFTERSALES_MAILBOX_")):
            monkeypatch.delenv(name)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)


def test_the_worker_starts_with_the_stores_secrets_and_no_other_vendor(monkeypatch: pytest.MonkeyPatch) -> None:
    _production(monkeypatch, **SHOPIFY)
    worker.check_secrets()


def test_the_worker_starts_with_every_configured_vendors_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    _production(monkeypatch, **SHOPIFY, AFTERSALES_STRIPE_API_KEY="sk_live_real",
                AFTERSALES_STRIPE_WEBHOOK_SECRET="whsec_real", AFTERSALES_DHL_API_KEY="dhl-real",
                AFTERSALES_PAGE_LINK_SECRET="a-real-link-secret", AFTERSALES_MAILBOX_HOST="imap.example.com",
                AFTERSALES_MAILBOX_USERNAME="returns@example.com", AFTERSALES_MAILBOX_PASSWORD="app-password")
    worker.check_secrets()


def test_in_sandbox_mode_the_worker_starts_on_the_sandboxs_values(monkeypatch: pytest.MonkeyPatch) -> None:
    _production(monkeypatch)
    monkeypatch.setenv("AFTERSALES_SANDBOX", "1")  # the demo, the tests, the fault lab, the scale stack
    worker.check_secrets()
    monkeypatch.delenv("AFTERSALES_SANDBOX")
    with pytest.raises(worker.MissingSecrets):
        worker.check_secrets()


def test_a_mailbox_read_in_clear_is_named_with_its_missing_login(monkeypatch: pytest.MonkeyPatch) -> None:
    """One refusal names everything to fix: the login and the clear-text reading together, not
    the second only once the first is fixed."""
    _production(monkeypatch, **SHOPIFY, AFTERSALES_MAILBOX_HOST="imap.example.com",
                AFTERSALES_MAILBOX_SECURITY="plain")
    with pytest.raises(worker.MissingSecrets) as refused:
        worker.check_secrets()
    assert refused.value.variables == [
        "AFTERSALES_MAILBOX_PASSWORD or AFTERSALES_MAILBOX_OAUTH2_TOKEN or AFTERSALES_MAILBOX_OAUTH2_REFRESH_TOKEN",
        "AFTERSALES_MAILBOX_SECURITY=tls or starttls", "AFTERSALES_MAILBOX_USERNAME"]


def test_a_customer_page_with_only_its_public_address_is_refused_naming_its_link_secret(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 22: AFTERSALES_PAGE_PUBLIC_URL alone is a page half set up (every visitor a 503, every
    email without its link, silently): the worker, which sends the emails, refuses to start naming
    the missing secret; with it the page works (its links are made)."""
    _production(monkeypatch, **SHOPIFY, AFTERSALES_PAGE_PUBLIC_URL="https://help.example.com/page")
    with pytest.raises(worker.MissingSecrets) as refused:
        worker.check_secrets()
    assert refused.value.variables == ["AFTERSALES_PAGE_LINK_SECRET"]
    monkeypatch.setenv("AFTERSALES_PAGE_LINK_SECRET", "a-real-link-secret")
    worker.check_secrets()
    from tasks.page_links import case_link

    link = case_link("#1001", "5001", "fr")
    assert link is not None and link.startswith("https://help.example.com/page/case?t=")
