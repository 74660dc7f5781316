"""The order consumer's process fails closed (issue 13, issue 16 review): without the store's
Shopify secrets it refuses to start with one line, as the receiver and setup do, instead of
claiming every new order and failing it until the order goes to the operator."""

from __future__ import annotations

import sys

import pytest

from deployments import order_consumer

SHOPIFY = ("AFTERSALES_SHOPIFY_SHOP_DOMAIN", "AFTERSALES_SHOPIFY_ACCESS_TOKEN", "AFTERSALES_SHOPIFY_WEBHOOK_SECRET")


def test_the_consumer_refuses_to_start_without_the_stores_secrets(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("AFTERSALES_SANDBOX", raising=False)
    for name in SHOPIFY:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "argv", ["order_consumer"])
    started = []
    monkeypatch.setattr(order_consumer, "run", lambda *a, **k: started.append(a))  # never reached
    with pytest.raises(SystemExit) as refused:
        order_consumer.main()
    assert refused.value.code == 2
    assert not started
    err = capsys.readouterr().err
    assert err.startswith("the order consumer refuses to start: set ")
    assert all(name in err for name in SHOPIFY)


def test_the_consumer_starts_with_the_stores_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AFTERSALES_SANDBOX", raising=False)
    for name, value in zip(SHOPIFY, ("real.myshopify.com", "shpat_real", "a-real-secret"), strict=True):
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["order_consumer", "--batch", "3"])
    started = []

    async def run(settings: order_consumer.ConsumerSettings, stop: object) -> None:
        started.append(settings.batch)

    monkeypatch.setattr(order_consumer, "run", run)
    httpx_logger = order_consumer.logging.getLogger("httpx")
    monkeypatch.setattr(httpx_logger, "level", httpx_logger.level)  # main() quiets it: put back after
    order_consumer.main()
    assert started == [3]


def test_the_consumer_refuses_a_customer_page_set_up_by_its_address_alone(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 22: its confirmation and tracking emails link to the page; a public address without
    the page's link secret would send them without it, silently: refused, naming the secret."""
    monkeypatch.delenv("AFTERSALES_SANDBOX", raising=False)
    for name, value in zip(SHOPIFY, ("real.myshopify.com", "shpat_real", "a-real-secret"), strict=True):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AFTERSALES_PAGE_LINK_SECRET", raising=False)
    monkeypatch.setenv("AFTERSALES_PAGE_PUBLIC_URL", "https://help.example.com/page")
    monkeypatch.setattr(sys, "argv", ["order_consumer"])
    monkeypatch.setattr(order_consumer, "run", lambda *a, **k: pytest.fail("started"))
    with pytest.raises(SystemExit) as refused:
        order_consumer.main()
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("the order consumer refuses to start: set AFTERSALES_PAGE_LINK_SECRET (")
