"""The customer page's signed links (issue 21): made for the emails, read by the page; none
without a public address or a secret; and the emails that help carry them."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tasks.page_links import PageSettings, case_link, read_link, sign_link
from tests.unit.test_messages_render import context_for as cancellation_context
from tests.unit.test_return_messages_render import context_for as return_context

SECRET = "a-real-secret"


def test_a_link_proves_its_order_until_it_expires() -> None:
    token = sign_link(SECRET, "#1012", "5840000001012", seconds=60, now=1_000)
    proof = read_link(SECRET, token, now=1_030)
    assert proof is not None and (proof.order_name, proof.order_ref) == ("#1012", "5840000001012")
    assert read_link(SECRET, token, now=1_061) is None  # expired
    assert read_link("another", token, now=1_030) is None  # another secret
    payload, _, mac = token.partition(".")
    other = sign_link(SECRET, "#1013", "5840000001013", seconds=60, now=1_000)
    assert read_link(SECRET, f"{other.partition('.')[0]}.{mac}", now=1_030) is None  # a payload swapped in
    for junk in ("", ".", "abc", "abc.def", f"{payload}.", "x" * 2000):
        assert read_link(SECRET, junk, now=1_030) is None


def test_the_emails_link_only_with_a_public_address_and_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AFTERSALES_PAGE_PUBLIC_URL", raising=False)
    assert case_link("#1012", "5840000001012", "fr") is None  # no public address: no link
    monkeypatch.setenv("AFTERSALES_PAGE_PUBLIC_URL", "https://help.example.com/page/")
    url = case_link("#1012", "5840000001012", "en")
    assert url is not None and url.startswith("https://help.example.com/page/case?")
    query = parse_qs(urlparse(url).query)
    assert query["lang"] == ["en"]
    proof = read_link(PageSettings().link_secret.get_secret_value(), query["t"][0])
    assert proof is not None and proof.order_ref == "5840000001012"
    monkeypatch.delenv("AFTERSALES_SANDBOX")  # outside sandbox mode, without a secret of its own: no link
    assert case_link("#1012", "5840000001012", "en") is None
    monkeypatch.setenv("AFTERSALES_PAGE_LINK_SECRET", SECRET)
    assert case_link("#1012", "5840000001012", "en") is not None


@pytest.mark.parametrize("template", ["cancellation_acknowledged", "return_received", "return_instructions",
                                      "return_tracking_reminder", "cancellation_converted_to_return"])
@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_emails_that_help_carry_the_link(template: str, language: Any) -> None:
    from domain.messages.render import render

    url = "https://help.example.com/page/case?t=abc.def&lang=" + language
    ctx = (return_context if template.startswith("return_") else cancellation_context)(template, language)
    with_link = render(template, language, {**ctx, "page_url": url})
    assert url in with_link.text
    assert with_link.html is not None and url.replace("&", "&amp;") in with_link.html
    without = render(template, language, {**ctx, "page_url": None})
    assert "/page/case" not in without.text
    assert render(template, language, ctx).text == without.text  # optional: left out, nothing said


def _any_context(template: str, language: Any) -> dict[str, Any]:
    from domain.messages.context import items_context, store_context
    from tests.unit.test_messages_render import CUSTOMER_TEMPLATES, STORE, make_order
    from tests.unit.test_order_messages_render import _confirmation

    if template in CUSTOMER_TEMPLATES:
        return cancellation_context(template, language)
    if template == "order_confirmation":
        return _confirmation(language, ["Zoé Martin", "8 rue Oberkampf", "75011 Paris", "FR"])
    if template == "order_shipped":
        return {"customer_first_name": "Zoé", "order_name": "#1001", "store": store_context(STORE, language),
                "items": items_context(make_order().line_items[:1], language), "carrier": "Colissimo",
                "tracking_number": "6A12345678FR", "tracking_url": None, "more_to_come": False}
    return return_context(template, language)


def _every_customer_template() -> list[str]:
    from tests.unit.test_messages_render import CUSTOMER_TEMPLATES
    from tests.unit.test_return_messages_render import RETURN_TEMPLATES

    return [*CUSTOMER_TEMPLATES, *RETURN_TEMPLATES, "order_confirmation", "order_shipped"]


@pytest.mark.parametrize("template", _every_customer_template())
@pytest.mark.parametrize("language", ["fr", "en"])
def test_every_customer_email_carries_the_link_once(template: str, language: Any) -> None:
    """Issue 21: "reached from a link in every email": text and HTML, once, and nothing without it."""
    from domain.messages.render import render

    url = "https://help.example.com/page/case?t=abc.def&lang=" + language
    ctx = _any_context(template, language)
    with_link = render(template, language, {**ctx, "page_url": url})
    assert with_link.text.count(url) == 1, with_link.text
    assert with_link.html is not None and with_link.html.count(url.replace("&", "&amp;")) == 1
    without = render(template, language, {**ctx, "page_url": None})
    assert render(template, language, ctx).text == without.text and "help.example.com" not in without.text
    assert without.html is not None and "help.example.com" not in without.html


def test_an_order_email_links_to_the_order_and_a_case_email_to_the_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSALES_PAGE_PUBLIC_URL", "https://help.example.com/page")
    order = case_link("#1001", "5840000001001", "fr", path="")
    assert order is not None and order.startswith("https://help.example.com/page?t=")
    case = case_link("#1001", "5840000001001", "fr")
    assert case is not None and case.startswith("https://help.example.com/page/case?t=")
