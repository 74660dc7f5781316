"""The returns and refunds messages (R1-R9, F1-F4, M1-M4) in French and English, and the return
operator alerts.

Contexts are built from domain types with `domain.messages.context`, as the flows will do; each
template's keys are documented at the top of its `.txt.j2` file.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from typing import Any

import pytest

from domain.messages.context import (
    Language,
    base_context,
    format_date,
    format_money,
    items_context,
    refund_context,
    refund_receipt_context,
    return_reason_label,
    store_context,
)
from domain.messages.render import TEMPLATES, RenderedMessage, render
from domain.money import Money
from domain.orders import Customer, LineItem, Order
from domain.policy import StoreInfo
from domain.returns import ReturnReason, is_store_fault

LANGUAGES: tuple[Language, ...] = ("fr", "en")
RETURN_TEMPLATES = (
    "return_received",
    "return_refused",
    "return_instructions",
    "return_tracking_reminder",
    "return_closed_not_shipped",
    "return_tracking_received",
    "return_keep_it",
    "refund_confirmed",
    "replacement_on_its_way",
    "return_follow_up",
    "satisfaction_survey",
    "return_refund_date_earlier",
)
RETURN_ALERTS = (
    "return_needs_delivery_date",
    "supplier_return_no_answer",
    "return_not_received",
    "inspection_needed",
    "refund_at_risk",
    "return_disputed_inspection",
    # Also raised by the returns flow:
    "return_missing_goods",
    "supplier_return_failed",
    "supplier_return_no_address",
    "supplier_return_refused",
    "refund_late",
    "replacement_refused",
    "replacement_late",
    "place_replacement",
)
# Keys a template reads only when present (documented "optional" in its .txt.j2).
OPTIONAL: dict[str, tuple[str, ...]] = {
    "return_received": ("customer_message", "answer_within_hours"),
    "return_refused": (
        "customer_message", "delivered_on", "window_ended_on", "excluded_items", "alternatives", "guarantee_note",
    ),
    "return_instructions": ("customer_message", "rma", "label_url", "refund"),
    "return_tracking_reminder": ("customer_message",),
    "return_closed_not_shipped": ("customer_message",),
    "return_tracking_received": ("customer_message", "refund"),
    "return_keep_it": ("customer_message", "refund"),
    "refund_confirmed": ("customer_message", "partial", "lowered", "goodwill"),
    "replacement_on_its_way": ("customer_message", "tracking_number", "tracking_url"),
    "return_follow_up": ("customer_message", "survey_url"),
    "satisfaction_survey": ("customer_message",),
    "return_refund_date_earlier": ("customer_message", "requested_on"),
}  # fmt: skip

TODAY = date(2026, 11, 20)
SUPPORT = "bonjour@maison-lumiere.example"
GREETING = {"fr": "Bonjour Zoé,", "en": "Hello Zoé,"}
ANONYMOUS_GREETING = {"fr": "Bonjour,", "en": "Hello,"}
AMOUNT = {"fr": "19,99\u00a0€", "en": "€19.99"}
DELAY = {"fr": "5 jours ouvrés", "en": "5 business days"}
# The refund sentences (the items list shows the amount too, so the sentence is what proves it).
WILL_REFUND = {"fr": "nous vous rembourserons 19,99\u00a0€", "en": "we'll refund €19.99"}
REFUNDED = {"fr": "le remboursement de 19,99\u00a0€", "en": "a refund of €19.99"}
SHIP_BY = {"fr": "vendredi 4 décembre", "en": "Friday 4 December"}
ADDRESS = ["Retours Maison Lumière", "12 rue des Lilas", "69003 Lyon", "France"]
RMA = "RMA-7315"
LABEL_URL = "https://labels.example/ret/7315"
TRACKING = "6A12345678901"
SURVEY_URL = "https://survey.example/r/1001"
ALTERNATIVES = {
    "fr": ["10 % de remise sur votre prochaine commande avec le code MERCI10"],
    "en": ["10% off your next order with the code MERCI10"],
}
EXCLUDED_WHY = {"fr": "produit d'hygiène, une fois descellé", "en": "hygiene product, once unsealed"}
PARTIAL_WHY = {
    "fr": "l'article est revenu abîmé par l'usage et ne peut plus être revendu",
    "en": "the item came back damaged through use and can no longer be sold",
}
APOLOGY_WORDS = {"fr": ("excuses", "désolés"), "en": ("sorry", "apolog")}


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def line(item_id: str, title: str, price: str, quantity: int = 1) -> LineItem:
    return LineItem(
        id=f"gid://shopify/LineItem/{item_id}",
        title=title,
        quantity=quantity,
        current_quantity=quantity,
        unfulfilled_quantity=0,
        refundable_quantity=quantity,
        unit_price=eur(price),
    )


STORE = StoreInfo(
    id="maison-lumiere.myshopify.com",
    name="Maison Lumière",
    support_email=SUPPORT,
    sender_email=SUPPORT,
    operator_email="camille@maison-lumiere.example",
    website="https://maison-lumiere.example",
)
CANDLE = line("1", "Bougie Ambre", "19.99")
LAMP = line("2", "Lampe Aurore", "64.00")


def make_order(first_name: str | None = "Zoé") -> Order:
    return Order(
        id="gid://shopify/Order/1001",
        legacy_id="1001",
        name="#1001",
        email="zoe.martin@example.com",
        customer=Customer(first_name=first_name, last_name="Martin", email="zoe.martin@example.com"),
        created_at=datetime(2026, 10, 20, 18, 0, tzinfo=UTC),
        currency="EUR",
        fulfillment_status="FULFILLED",
        total_price=eur("83.99"),
        total_received=eur("83.99"),
        total_refunded=eur("0"),
        line_items=[CANDLE, LAMP],
        payment_gateways=["shopify_payments"],
    )


def day(value: date, language: Language) -> str:
    return format_date(value, language, reference=TODAY)


def refund(language: Language, method: str = "original") -> dict[str, Any]:
    return dict(
        refund_context(
            eur("19.99"),
            language,
            method="store_credit" if method == "store_credit" else "original",
            business_days=5,
            expected_by=date(2026, 12, 11),
            gateways=["shopify_payments"],
            reference=TODAY,
        )
    )


def receipt(language: Language, amount: str = "19.99", method: str = "original") -> dict[str, Any]:
    return dict(
        refund_receipt_context(
            eur(amount),
            language,
            method="store_credit" if method == "store_credit" else "original",
            issued_on=date(2026, 11, 27),
            refund_reference="RF-2087",
            gateways=["shopify_payments"],
            reference=TODAY,
        )
    )


def extras(template: str, language: Language, reason: ReturnReason) -> dict[str, Any]:
    fault = is_store_fault(reason)
    match template:
        case "return_received":
            return {
                "plan_kind": "exchange" if fault else "refund_after_return",
                "apology": fault,
                "store_pays_return": fault,
                "checking_supplier": True,
                "answer_within_hours": 48,
            }
        case "return_refused":
            return {
                "why": "out_of_window",
                "window_days": 20,
                "delivered_on": day(date(2026, 10, 26), language),
                "window_ended_on": day(date(2026, 11, 16), language),
                "excluded_items": [],
                "alternatives": ALTERNATIVES[language],
                "guarantee_note": True,
            }
        case "return_instructions":
            return {
                "address_lines": ADDRESS,
                "rma": RMA,
                "label_url": LABEL_URL,
                "store_pays_return": True,
                "ship_by": day(date(2026, 12, 4), language),
                "exchange": False,
                "refund": refund(language),
            }
        case "return_tracking_reminder":
            return {"ship_by": day(date(2026, 12, 4), language), "days_left": 3, "address_lines": ADDRESS}
        case "return_closed_not_shipped":
            return {"ship_by": day(date(2026, 12, 4), language)}
        case "return_tracking_received":
            return {"tracking_number": TRACKING, "next": "refund", "refund": refund(language)}
        case "return_keep_it":
            return {"plan_kind": "keep_it_refund", "refund": refund(language), "apology": fault}
        case "refund_confirmed":
            return {
                "refund": receipt(language, amount="9.99"),
                "partial": {"full_amount": AMOUNT[language], "reason_text": PARTIAL_WHY[language], "photos_kept": True},
                "lowered": None,
                "goodwill": {"description": ALTERNATIVES[language][0].split(" avec")[0].split(" with")[0],
                             "code": "MERCI10"},
            }
        case "replacement_on_its_way":
            return {"tracking_number": TRACKING, "tracking_url": f"https://track.example/{TRACKING}", "apology": fault}
        case "return_follow_up":
            return {"outcome": "refunded", "survey_url": SURVEY_URL}
        case "satisfaction_survey":
            return {"survey_url": SURVEY_URL}
        case "return_refund_date_earlier":
            return {"refund_by": day(date(2026, 12, 4), language), "requested_on": day(date(2026, 11, 16), language)}
    raise AssertionError(template)


def context_for(
    template: str,
    language: Language,
    *,
    reason: ReturnReason = ReturnReason.DAMAGED,
    first_name: str | None = "Zoé",
    customer_message: str | None = "La bougie est arrivée fêlée.",
    items: list[LineItem] | None = None,
) -> dict[str, Any]:
    order = make_order(first_name)
    ctx = base_context(order, STORE, language, reason=reason, customer_message=customer_message)
    ctx["items"] = items_context(items or [CANDLE], language)
    return ctx | extras(template, language, reason)


def minimal_context(template: str, language: Language) -> dict[str, Any]:
    ctx = context_for(template, language)
    for key in OPTIONAL[template]:
        ctx.pop(key)
    return ctx


def rendered(template: str, language: Language, **kwargs: Any) -> RenderedMessage:
    return render(template, language, context_for(template, language, **kwargs))


def both_parts(message: RenderedMessage) -> list[str]:
    """Text and HTML, the HTML with its apostrophes unescaped to compare sentences."""
    assert message.html is not None
    return [message.text, message.html.replace("&#39;", "'")]


def assert_clean(message: RenderedMessage) -> None:
    assert message.subject and "\n" not in message.subject and "#1001" in message.subject
    assert message.html is not None and message.html.lstrip().startswith("<!doctype html>")
    for part in (message.subject, message.text, message.html):
        for leak in ("None", "{{", "}}", "{%", "%}", "{#", "Undefined", "[]", "['"):
            assert leak not in part, (leak, part)
    assert "\n\n\n" not in message.text
    assert "&amp;#" not in message.html and "&amp;lt;" not in message.html  # escaped once, never twice
    # Paragraphs are separated by a blank line; only lists, links and numbered steps follow a sentence.
    lines = message.text.split("\n")
    for before, after in itertools.pairwise(lines):
        if before.endswith((".", "!")) and after:
            assert after.startswith(("- ", "http")) or after[0].isdigit(), (before, after)


# -- every template ------------------------------------------------------------------------------


@pytest.mark.parametrize("template", (*RETURN_TEMPLATES, "operator_alert"))
def test_every_template_exists_in_both_languages_with_three_parts(template: str) -> None:
    for language in LANGUAGES:
        for part in ("subject", "txt", "html"):
            assert (TEMPLATES / language / f"{template}.{part}.j2").is_file(), (language, template, part)


@pytest.mark.parametrize("template", RETURN_TEMPLATES)
def test_every_template_documents_its_context(template: str) -> None:
    for language in LANGUAGES:
        head = (TEMPLATES / language / f"{template}.txt.j2").read_text(encoding="utf-8").split("-#}")[0]
        assert head.startswith("{#-") and template in head
        for key in ("customer_first_name", "order_name", "store", "items", "reason", "customer_message",
                    *extras(template, language, ReturnReason.DAMAGED)):
            assert f"    {key} " in head, (language, template, key)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", RETURN_TEMPLATES)
def test_renders_cleanly_with_a_full_context(template: str, language: Language) -> None:
    message = rendered(template, language)
    assert_clean(message)
    assert message.html is not None and f'lang="{language}"' in message.html
    assert message.text.startswith(GREETING[language] + "\n")
    for part in both_parts(message):
        assert SUPPORT in part and "Maison Lumière" in part


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", RETURN_TEMPLATES)
def test_renders_cleanly_with_the_optional_keys_left_out(template: str, language: Language) -> None:
    message = render(template, language, minimal_context(template, language))
    assert_clean(message)
    assert message.text.startswith(GREETING[language] + "\n")


VARIANTS: list[tuple[str, dict[str, Any]]] = [
    *[("return_received", {"plan_kind": plan, "checking_supplier": checking})
      for plan in ("exchange", "refund_after_return", "keep_it_refund", "keep_it_replacement")
      for checking in (True, False)],
    *[("return_refused", {"why": why}) for why in ("out_of_window", "excluded", "not_delivered_yet")],
    ("return_refused", {"why": "excluded", "excluded_items": [{"title": "Savon", "why": "hygiène"}]}),
    ("return_instructions", {"exchange": True}),
    ("return_instructions", {"store_pays_return": False}),
    ("return_tracking_reminder", {"days_left": 0}),
    ("return_tracking_received", {"next": "exchange"}),
    ("return_keep_it", {"plan_kind": "keep_it_replacement"}),
    *[("return_follow_up", {"outcome": outcome}) for outcome in ("refunded", "replaced", "exchanged")],
]  # fmt: skip


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(("template", "variant"), VARIANTS)
def test_every_variant_renders_cleanly(template: str, variant: dict[str, Any], language: Language) -> None:
    for ctx in (context_for(template, language), minimal_context(template, language)):
        assert_clean(render(template, language, ctx | variant))


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", RETURN_TEMPLATES)
def test_optional_keys_may_also_be_none(template: str, language: Language) -> None:
    ctx = context_for(template, language) | dict.fromkeys(OPTIONAL[template])
    assert_clean(render(template, language, ctx))


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", RETURN_TEMPLATES)
def test_missing_first_name_gives_a_graceful_greeting(template: str, language: Language) -> None:
    message = rendered(template, language, first_name=None)
    assert message.text.startswith(ANONYMOUS_GREETING[language] + "\n")
    assert message.html is not None and f">{ANONYMOUS_GREETING[language]}</p>" in message.html


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", RETURN_TEMPLATES)
def test_customer_text_is_escaped_in_html_and_never_evaluated(template: str, language: Language) -> None:
    hostile = "Cassée {{ 7*7 }} {% if true %}X{% endif %} <script>alert('x')</script>"
    ctx = context_for(template, language, first_name="<b>Zoé</b>", customer_message=hostile)
    ctx["store"] = ctx["store"] | {"name": "Maison <i>Lumière</i>"}
    # Values that come from people (the supplier's address, the operator's texts) are escaped too.
    for key in ("address_lines", "alternatives"):
        if key in ctx:
            ctx[key] = [*ctx[key], hostile]
    if "partial" in ctx:
        ctx["partial"] = ctx["partial"] | {"reason_text": hostile}
    if "tracking_number" in ctx:
        ctx["tracking_number"] = hostile
    message = render(template, language, ctx)
    assert message.html is not None
    assert "49" not in message.text and "49" not in message.html
    assert "<script>" not in message.html and "<b>Zoé</b>" not in message.html and "<i>" not in message.html
    assert "&lt;b&gt;Zoé&lt;/b&gt;" in message.html and "&lt;i&gt;Lumière&lt;/i&gt;" in message.html
    if template == "return_received" or any(k in ctx for k in ("address_lines", "alternatives", "partial")):
        for part in both_parts(message):
            assert "{{ 7*7 }}" in part and "{% if true %}X{% endif %}" in part
        assert "<script>alert('x')</script>" in message.text
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in message.html
        assert "&amp;lt;" not in message.html and "&amp;#39;" not in message.html  # escaped once


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", RETURN_TEMPLATES)
def test_never_names_or_blames_the_supplier_or_the_carrier(template: str, language: Language) -> None:
    for reason in ReturnReason:
        for part in both_parts(rendered(template, language, reason=reason)):
            lowered = part.lower()
            for word in ("fournisseur", "supplier", "transporteur", "carrier", "la poste", "aliexpress"):
                assert word not in lowered, (template, reason, word)


def test_subjects_stay_on_one_line_even_with_a_line_break_in_a_value() -> None:
    for language in LANGUAGES:
        ctx = context_for("refund_confirmed", language)
        ctx["refund"] = ctx["refund"] | {"amount": "9,99\n€"}
        ctx["order_name"] = "#1001\r\nBcc: x@example.com"
        subject = render("refund_confirmed", language, ctx).subject
        assert "\n" not in subject and "\r" not in subject


# -- M2: the apology, exactly when the store or its supplier erred ------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    "template", ["return_received", "return_keep_it", "return_instructions", "replacement_on_its_way"]
)
def test_apology_appears_exactly_for_the_store_fault_reasons(template: str, language: Language) -> None:
    for reason in ReturnReason:
        for part in both_parts(rendered(template, language, reason=reason, customer_message=None)):
            lowered = part.lower()
            apologises = any(word in lowered for word in APOLOGY_WORDS[language])
            assert apologises == is_store_fault(reason), (template, reason, part)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", ["return_received", "return_keep_it"])
def test_the_opening_sentence_differs_for_each_reason(template: str, language: Language) -> None:
    openings = {rendered(template, language, reason=reason).text.split("\n\n")[1] for reason in ReturnReason}
    assert len(openings) == len(ReturnReason)


@pytest.mark.parametrize("language", LANGUAGES)
def test_apology_flag_without_a_known_reason_gives_a_general_apology(language: Language) -> None:
    ctx = context_for("return_received", language) | {"reason": None, "apology": True}
    text = render("return_received", language, ctx).text.lower()
    assert any(word in text for word in APOLOGY_WORDS[language])
    ctx = context_for("return_received", language) | {"reason": None, "apology": False}
    text = render("return_received", language, ctx).text.lower()
    assert not any(word in text for word in APOLOGY_WORDS[language])


# -- return_received -------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_received_says_what_happens_next_for_each_plan(language: Language) -> None:
    expected = {
        "fr": {
            "exchange": ("un échange", "un article neuf", "étiquette prépayée", "d'ici 48 heures"),
            "refund_after_return": ("lancerons votre remboursement", "à votre charge", "d'ici 48 heures"),
            "keep_it_refund": ("rien à nous renvoyer", "remboursement"),
            "keep_it_replacement": ("rien à nous renvoyer", "un article neuf", "numéro de suivi"),
        },
        "en": {
            "exchange": ("an exchange", "a brand-new item", "prepaid label", "within 48 hours"),
            "refund_after_return": ("start your refund", "at your expense", "within 48 hours"),
            "keep_it_refund": ("nothing to send back", "refund"),
            "keep_it_replacement": ("nothing to send back", "a brand-new item", "tracking number"),
        },
    }
    for plan, phrases in expected[language].items():
        ctx = context_for("return_received", language) | {
            "plan_kind": plan,
            "store_pays_return": plan == "exchange",
        }
        for part in both_parts(render("return_received", language, ctx)):
            assert all(phrase in part for phrase in phrases), (plan, part)
            if plan.startswith("keep_it"):
                assert ("instructions" not in part) and ("48" not in part)


@pytest.mark.parametrize("language", LANGUAGES)
def test_received_without_a_delay_still_says_the_instructions_follow(language: Language) -> None:
    ctx = minimal_context("return_received", language)
    expected = {"fr": "dans un prochain e-mail", "en": "in a separate email"}
    for part in both_parts(render("return_received", language, ctx)):
        assert expected[language] in part and "48" not in part
    ctx["checking_supplier"] = False
    waiting = {"fr": "Merci de l'attendre avant d'envoyer", "en": "Please wait for it before sending"}
    for part in both_parts(render("return_received", language, ctx)):
        assert waiting[language] in part


@pytest.mark.parametrize("language", LANGUAGES)
def test_received_quotes_the_customers_message(language: Language) -> None:
    for part in both_parts(rendered("return_received", language)):
        assert "La bougie est arrivée fêlée." in part


# -- return_refused --------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_refusal_out_of_window_explains_the_dates_and_offers_the_alternatives(language: Language) -> None:
    message = rendered("return_refused", language, reason=ReturnReason.CHANGED_MIND)
    window = {"fr": "20 jours", "en": "20 days"}
    guarantee = {"fr": "garantie légale de conformité", "en": "legal guarantee of conformity"}
    for part in both_parts(message):
        assert window[language] in part
        assert day(date(2026, 10, 26), language) in part and day(date(2026, 11, 16), language) in part
        assert ALTERNATIVES[language][0] in part and "MERCI10" in part
        assert guarantee[language] in part and ("photo" in part)


@pytest.mark.parametrize("language", LANGUAGES)
def test_refusal_of_excluded_goods_names_them_and_says_why(language: Language) -> None:
    ctx = context_for("return_refused", language) | {
        "why": "excluded",
        "excluded_items": [{"title": "Savon Lavande", "why": EXCLUDED_WHY[language]}],
        "guarantee_note": False,
    }
    law = {"fr": "droit de rétractation", "en": "right of withdrawal"}
    for part in both_parts(render("return_refused", language, ctx)):
        assert "Savon Lavande" in part and EXCLUDED_WHY[language] in part and law[language] in part
        assert "2 ans" not in part and "2 years" not in part


@pytest.mark.parametrize("language", LANGUAGES)
def test_refusal_before_delivery_says_it_is_too_early(language: Language) -> None:
    ctx = minimal_context("return_refused", language) | {"why": "not_delivered_yet"}
    expected = {"fr": ("pas encore été livrée", "20 jours"), "en": ("hasn't been delivered yet", "20 days")}
    for part in both_parts(render("return_refused", language, ctx)):
        assert all(phrase in part for phrase in expected[language])
        assert "MERCI10" not in part


@pytest.mark.parametrize("language", LANGUAGES)
def test_refusal_reasons_read_differently(language: Language) -> None:
    texts = {
        why: render("return_refused", language, minimal_context("return_refused", language) | {"why": why}).text
        for why in ("out_of_window", "excluded", "not_delivered_yet")
    }
    assert len({t.split("\n\n")[2] for t in texts.values()}) == 3


# -- return_instructions ---------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_instructions_give_address_rma_label_deadline_and_ask_for_tracking(language: Language) -> None:
    message = rendered("return_instructions", language)
    ask = {
        "fr": ("répondez à cet e-mail en nous indiquant son numéro de suivi",
               "Il nous permet de suivre votre colis"),  # asked and explained, never a condition (L221-24)
        "en": ("reply to this email with its tracking number", "It lets us follow your parcel"),
    }
    proof = {"fr": "preuve de dépôt", "en": "proof of postage"}
    prepaid = {"fr": "ne vous coûte rien", "en": "costs you nothing"}
    for part in both_parts(message):
        assert all(address_line in part for address_line in ADDRESS)
        assert RMA in part and LABEL_URL in part and SHIP_BY[language] in part
        assert all(phrase in part for phrase in ask[language])
        assert proof[language] in part and prepaid[language] in part
        assert WILL_REFUND[language] in part.replace("Nous vous", "nous vous").replace("We'll", "we'll")
        assert day(date(2026, 12, 11), language) in part
    assert message.html is not None and f'<a href="{LABEL_URL}"' in message.html
    assert "12 rue des Lilas<br>69003 Lyon" in message.html


@pytest.mark.parametrize("language", LANGUAGES)
def test_instructions_without_label_rma_or_refund(language: Language) -> None:
    ctx = minimal_context("return_instructions", language) | {"store_pays_return": False}
    expected = {
        "fr": ("l'adresse de retour ci-dessous", "à votre charge"),
        "en": ("return address below", "at your expense"),
    }
    for part in both_parts(render("return_instructions", language, ctx)):
        assert RMA not in part and "labels.example" not in part
        assert WILL_REFUND[language] not in part
        assert all(phrase in part for phrase in expected[language])
        assert all(address_line in part for address_line in ADDRESS)


@pytest.mark.parametrize("language", LANGUAGES)
def test_instructions_for_an_exchange_promise_the_new_item_on_receipt(language: Language) -> None:
    ctx = context_for("return_instructions", language, reason=ReturnReason.WRONG_SIZE) | {
        "exchange": True,
        "refund": None,
    }
    expected = {"fr": "le même article dans la bonne taille", "en": "the same item in the right size"}
    for part in both_parts(render("return_instructions", language, ctx)):
        assert expected[language] in part and WILL_REFUND[language] not in part and DELAY[language] not in part


@pytest.mark.parametrize("language", LANGUAGES)
def test_instructions_speak_of_several_items_in_the_plural(language: Language) -> None:
    message = rendered("return_instructions", language, items=[CANDLE, LAMP])
    assert ("les articles" if language == "fr" else "the items") in message.text
    assert "Lampe Aurore" in message.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_store_credit_refund_after_the_return(language: Language) -> None:
    ctx = context_for("return_instructions", language) | {"refund": refund(language, method="store_credit")}
    for part in both_parts(render("return_instructions", language, ctx)):
        assert ("avoir" if language == "fr" else "store credit") in part and DELAY[language] not in part


# -- tracking: reminder, closure, received ---------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_tracking_reminder_counts_the_days_left(language: Language) -> None:
    expected = {"fr": "il vous reste 3 jours", "en": "you have 3 days left"}
    for part in both_parts(rendered("return_tracking_reminder", language)):
        assert expected[language] in part and SHIP_BY[language] in part
        assert all(address_line in part for address_line in ADDRESS)
        assert ("numéro de suivi" if language == "fr" else "tracking number") in part
    last = context_for("return_tracking_reminder", language) | {"days_left": 0}
    today = {"fr": "C'est le dernier jour", "en": "Today is the last day"}
    for part in both_parts(render("return_tracking_reminder", language, last)):
        assert today[language] in part and expected[language] not in part
    one = context_for("return_tracking_reminder", language) | {"days_left": 1}
    assert ("1 jour " if language == "fr" else "1 day ") in render("return_tracking_reminder", language, one).text


@pytest.mark.parametrize("language", LANGUAGES)
def test_closed_return_says_so_and_how_to_reopen_it(language: Language) -> None:
    expected = {"fr": ("clôturé", "numéro de suivi", "rouvrirons"), "en": ("closed", "tracking number", "reopen")}
    message = rendered("return_closed_not_shipped", language)
    for part in both_parts(message):
        assert SHIP_BY[language] in part and all(phrase in part for phrase in expected[language])
    assert ("clôturée" if language == "fr" else "closed") in message.subject


@pytest.mark.parametrize("language", LANGUAGES)
def test_tracking_received_thanks_and_says_what_follows(language: Language) -> None:
    for part in both_parts(rendered("return_tracking_received", language)):
        assert TRACKING in part and WILL_REFUND[language] in part and DELAY[language] in part
    ctx = context_for("return_tracking_received", language, reason=ReturnReason.WRONG_ITEM) | {
        "next": "exchange",
        "refund": None,
    }
    expected = {"fr": "l'article que vous avez commandé", "en": "the item you ordered"}
    for part in both_parts(render("return_tracking_received", language, ctx)):
        assert TRACKING in part and expected[language] in part and WILL_REFUND[language] not in part


# -- keep it, refunds --------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_keep_it_refund_or_replacement(language: Language) -> None:
    for part in both_parts(rendered("return_keep_it", language)):
        assert ("rien à nous renvoyer" if language == "fr" else "nothing to send back") in part
        assert REFUNDED[language] in part and ("banque" if language == "fr" else "bank") in part
    ctx = context_for("return_keep_it", language, reason=ReturnReason.DEFECTIVE) | {
        "plan_kind": "keep_it_replacement",
        "refund": None,
    }
    expected = {"fr": "un article neuf, en parfait état de marche", "en": "a brand-new item in perfect working order"}
    for part in both_parts(render("return_keep_it", language, ctx)):
        assert expected[language] in part and REFUNDED[language] not in part and DELAY[language] not in part



@pytest.mark.parametrize("language", LANGUAGES)
def test_refund_confirmed_gives_amount_date_method_and_reference(language: Language) -> None:
    ctx = context_for("refund_confirmed", language) | {"refund": receipt(language), "partial": None, "goodwill": None}
    message = render("refund_confirmed", language, ctx)
    method = {"fr": "carte bancaire", "en": "the card you used"}
    for part in both_parts(message):
        assert AMOUNT[language] in part and day(date(2026, 11, 27), language) in part
        assert method[language] in part and "RF-2087" in part
        assert ("partiel" if language == "fr" else "partial") not in part
    assert AMOUNT[language] in message.subject


@pytest.mark.parametrize("language", LANGUAGES)
def test_partial_refund_explains_why_with_photos_and_the_full_amount(language: Language) -> None:
    photos = {"fr": "conservé les photos", "en": "kept the photos"}
    for part in both_parts(rendered("refund_confirmed", language)):
        assert ("9,99\u00a0€" if language == "fr" else "€9.99") in part
        assert AMOUNT[language] in part and PARTIAL_WHY[language] + "." in part and photos[language] in part
        assert "MERCI10" in part
    ctx = context_for("refund_confirmed", language)
    ctx["partial"] = ctx["partial"] | {"photos_kept": False, "reason_text": PARTIAL_WHY[language] + "."}
    text = render("refund_confirmed", language, ctx).text
    assert photos[language] not in text and PARTIAL_WHY[language] + ".." not in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_goodwill_after_a_store_fault_makes_amends(language: Language) -> None:
    amends = {"fr": "Pour nous faire pardonner", "en": "To make up for it"}
    assert amends[language] in rendered("refund_confirmed", language, reason=ReturnReason.DAMAGED).text
    assert amends[language] not in rendered("refund_confirmed", language, reason=ReturnReason.CHANGED_MIND).text


@pytest.mark.parametrize("language", LANGUAGES)
def test_refund_confirmed_as_store_credit_or_paypal(language: Language) -> None:
    ctx = minimal_context("refund_confirmed", language) | {"refund": receipt(language, method="store_credit")}
    for part in both_parts(render("refund_confirmed", language, ctx)):
        assert ("avoir" if language == "fr" else "store credit") in part
    ctx["refund"] = receipt(language) | {"payment": "paypal"}
    for part in both_parts(render("refund_confirmed", language, ctx)):
        assert "PayPal" in part


@pytest.mark.parametrize("language", LANGUAGES)
def test_store_credit_items_and_a_delivery_back_to_the_card_are_told_apart(language: Language) -> None:
    """F1 (M3): the items went to store credit, the delivery refunded on its own went back to the
    card (flows.returns.refund_delivery_left): each sum with its own method, never all as credit."""
    ctx = minimal_context("refund_confirmed", language) | {"refund": receipt(language, "44.90", "store_credit") | {
        "items_amount": format_money(eur("40.00"), language), "delivery": format_money(eur("4.90"), language),
        "delivery_method": "original", "delivery_payment": "card"}}
    message = render("refund_confirmed", language, ctx)
    assert_clean(message)
    money = {k: format_money(eur(v), language) for k, v in (("all", "44.90"), ("items", "40.00"), ("dl", "4.90"))}
    expected = {
        "fr": (f"Montant : {money['all']} au total", f"Vos articles : {money['items']}, sous forme d'avoir",
               f"Livraison : {money['dl']}, sur la carte bancaire utilisée pour votre achat",
               "Votre avoir est déjà disponible", "Pour le remboursement de la livraison, selon votre banque"),
        "en": (f"Amount: {money['all']} in all", f"Your items: {money['items']}, as store credit",
               f"Delivery: {money['dl']}, to the card you used for your purchase",
               "Your store credit is already in your customer account", "For the delivery refund, depending on"),
    }[language]
    for part in both_parts(message):
        for sentence in expected:
            assert sentence in part, (sentence, part)
        assert ("Moyen :" if language == "fr" else "Method:") not in part  # one method would be untrue
    assert money["all"] in message.subject


@pytest.mark.parametrize("language", LANGUAGES)
def test_partial_refund_with_the_delivery_tells_the_items_after_deduction_and_the_delivery_in_full(
        language: Language) -> None:
    """R7 (L221-23, L221-24): the deduction is on the items only; the delivery of a whole
    withdrawal is refunded in full. The email gives the items' amount after the deduction against
    their full amount, and the delivery, and the total as the sum of both."""
    money = {k: format_money(eur(v), language) for k, v in
             (("all", "24.90"), ("items", "20.00"), ("full", "40.00"), ("dl", "4.90"))}
    ctx = context_for("refund_confirmed", language) | {"refund": receipt(language, "24.90") | {
        "items_amount": money["items"], "delivery": money["dl"], "delivery_method": "original",
        "delivery_payment": "card"}, "goodwill": None}
    ctx["partial"] = ctx["partial"] | {"full_amount": money["full"]}
    message = render("refund_confirmed", language, ctx)
    assert_clean(message)
    expected = {
        "fr": (f"Montant : {money['all']} ({money['items']} pour vos articles et {money['dl']} pour la livraison)",
               f"Ce remboursement est partiel pour vos articles : {money['items']} au lieu de leur montant complet "
               f"de {money['full']}, la livraison ({money['dl']}) vous étant remboursée en totalité.",
               "Moyen : carte bancaire"),
        "en": (f"Amount: {money['all']} ({money['items']} for your items and {money['dl']} for the delivery)",
               f"This is a partial refund for your items: {money['items']} instead of their full amount of "
               f"{money['full']}, while the delivery ({money['dl']}) is refunded in full.",
               "Method: the card you used"),
    }[language]
    for part in both_parts(message):
        for sentence in expected:
            assert sentence in part, (sentence, part)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("with_delivery", [False, True])
def test_a_lower_amount_approved_by_hand_states_both_amounts_the_reason_and_how_to_contest(
        language: Language, with_delivery: bool) -> None:
    """L221-24 (every sum paid is refunded; a deduction only for handling beyond what was needed,
    L221-23, R7) and M1-M5: a lower amount the operator approved by hand is said as such, with the
    items' full amount, the operator's reason quoted as written, a reply and the mediator to
    contest; never the R7 misuse text nor any legal ground the operator did not give."""
    money = {k: format_money(eur(v), language) for k, v in
             (("all", "124.90" if with_delivery else "120.00"), ("items", "120.00"), ("full", "149.00"),
              ("dl", "4.90"))}
    why = {"fr": "une rayure sur le côté, visible sur les photos", "en": "a scratch on the side, seen on the photos"}
    ctx = context_for("refund_confirmed", language) | {
        "refund": receipt(language, "124.90" if with_delivery else "120.00") | {
            "items_amount": money["items"], "delivery": money["dl"] if with_delivery else None},
        "partial": None, "goodwill": None, "lowered": {"full_amount": money["full"], "reason": why[language]}}
    ctx["store"] = ctx["store"] | {"mediator_name": "CM2C", "mediator_website": "https://www.cm2c.net"}
    message = render("refund_confirmed", language, ctx)
    assert_clean(message)
    delivery = {"fr": f", la livraison ({money['dl']}) vous étant remboursée en totalité",
                "en": f", while the delivery ({money['dl']}) is refunded in full"}[language] if with_delivery else ""
    expected = {
        "fr": (f"Ce remboursement est inférieur au montant complet de vos articles : {money['items']} au lieu de "
               f"{money['full']}{delivery}. La raison donnée par notre équipe : « {why['fr']} ».",
               "répondez simplement à cet e-mail", "médiateur de la consommation dont nous relevons : CM2C",
               "Articles concernés :"),
        "en": (f"This refund is less than the full amount of your items: {money['items']} instead of "
               f"{money['full']}{delivery}. The reason our team gave: \"{why['en']}\".",
               "simply reply to this email", "consumer mediator", "CM2C", "Items concerned:"),
    }[language]
    for part in both_parts(message):
        part = part.replace("&#34;", '"')
        for sentence in expected:
            assert sentence in part, (sentence, part)
        assert PARTIAL_WHY[language] not in part and "L221" not in part
        assert money["all"] in part


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_lower_amount_without_a_reason_claims_none(language: Language) -> None:
    ctx = context_for("refund_confirmed", language) | {
        "refund": receipt(language, "120.00") | {"items_amount": format_money(eur("120.00"), language)},
        "goodwill": None, "lowered": {"full_amount": format_money(eur("149.00"), language), "reason": None}}
    message = render("refund_confirmed", language, ctx)  # `partial` too: the lower amount takes its place
    assert_clean(message)
    said = {"fr": ("inférieur au montant complet", "Ce montant a été fixé par notre équipe.", "raison", "partiel"),
            "en": ("less than the full amount", "This amount was set by our team.", "reason", "partial")}[language]
    for part in both_parts(message):
        assert said[0] in part and said[1] in part and format_money(eur("149.00"), language) in part
        assert said[2] not in part and said[3] not in part and PARTIAL_WHY[language] not in part


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_operators_reason_is_quoted_escaped_and_never_evaluated(language: Language) -> None:
    hostile = "Rayure {{ 7*7 }} <script>alert('x')</script>"
    ctx = context_for("refund_confirmed", language) | {
        "partial": None, "lowered": {"full_amount": AMOUNT[language], "reason": hostile}}
    message = render("refund_confirmed", language, ctx)
    assert message.html is not None
    assert hostile in message.text and "49" not in message.text and "<script>" not in message.html
    assert "{{ 7*7 }} &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in message.html


# -- replacement, follow-up, survey ------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_replacement_gives_the_tracking(language: Language) -> None:
    message = rendered("replacement_on_its_way", language)
    for part in both_parts(message):
        assert TRACKING in part and "Bougie Ambre" in part
    assert message.html is not None and f'<a href="https://track.example/{TRACKING}"' in message.html
    later = {"fr": "dès qu'il sera disponible", "en": "as soon as it's available"}
    minimal = minimal_context("replacement_on_its_way", language)
    for part in both_parts(render("replacement_on_its_way", language, minimal)):
        assert later[language] in part and TRACKING not in part


@pytest.mark.parametrize("language", LANGUAGES)
def test_follow_up_checks_all_went_well_for_each_outcome(language: Language) -> None:
    openings = set()
    for outcome in ("refunded", "replaced", "exchanged"):
        ctx = context_for("return_follow_up", language) | {"outcome": outcome}
        message = render("return_follow_up", language, ctx)
        openings.add(message.text.split("\n\n")[1])
        for part in both_parts(message):
            assert SURVEY_URL in part
            assert ("bien passé" if language == "fr" else "went well") in part
    assert len(openings) == 3
    assert SURVEY_URL not in render("return_follow_up", language, minimal_context("return_follow_up", language)).text


@pytest.mark.parametrize("language", LANGUAGES)
def test_survey_links_to_the_survey(language: Language) -> None:
    message = rendered("satisfaction_survey", language)
    assert SURVEY_URL in message.text
    assert message.html is not None and f'<a href="{SURVEY_URL}"' in message.html


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_link_that_is_not_http_is_shown_as_text_never_as_a_link(language: Language) -> None:
    ctx = context_for("satisfaction_survey", language) | {"survey_url": "javascript:alert(1)"}
    html = render("satisfaction_survey", language, ctx).html
    assert html is not None and 'href="javascript' not in html and "javascript:alert(1)" in html


# -- operator alerts ---------------------------------------------------------------------------------


def alert_context(language: Language, alert: str, **extra: Any) -> dict[str, Any]:
    return {
        "store": base_context(make_order(), STORE, language)["store"],
        "case_id": "case-r42",
        "order_name": "#1001",
        "alert": alert,
        "customer": {"name": "Zoé Martin", "email": "zoe.martin@example.com"},
        "reason_label": return_reason_label(ReturnReason.DAMAGED, language),
    } | extra


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("alert", RETURN_ALERTS)
def test_return_alerts_have_their_own_title_story_and_options(alert: str, language: Language) -> None:
    message = render("operator_alert", language, alert_context(language, alert))
    fallback = render("operator_alert", language, alert_context(language, "manual_review"))
    assert_clean(message)
    assert message.subject != fallback.subject
    body = message.text.split("\n\n")
    assert len([p for p in body if p not in fallback.text.split("\n\n")]) >= 4
    heading = {"fr": "Motif de retour : article abîmé", "en": "Return reason: damaged item"}
    for part in both_parts(message):
        assert "case-r42" in part and heading[language] in part


@pytest.mark.parametrize("language", LANGUAGES)
def test_refund_at_risk_shows_the_surcharge_tier_from_the_details(language: Language) -> None:
    details = "+5 % (11-20 days late): 1,00 € de majoration, 20,99 € dus"
    message = render("operator_alert", language, alert_context(language, "refund_at_risk", details=details))
    for part in both_parts(message):
        assert "L242-4" in part and details in part


@pytest.mark.parametrize("language", LANGUAGES)
def test_cancellation_alerts_still_say_cancellation_reason(language: Language) -> None:
    ctx = alert_context(language, "supplier_no_answer") | {"reason_label": "x"}
    heading = {"fr": "Motif d'annulation : x", "en": "Cancellation reason: x"}
    assert heading[language] in render("operator_alert", language, ctx).text


# -- context helpers ---------------------------------------------------------------------------------


def test_every_return_reason_has_a_label_in_both_languages() -> None:
    for language in LANGUAGES:
        labels = {return_reason_label(reason, language) for reason in ReturnReason}
        assert None not in labels and len(labels) == len(ReturnReason)
    assert return_reason_label(None, "fr") is None
    assert return_reason_label("not_a_reason", "en") is None
    assert return_reason_label("wrong_item", "en") == "wrong item received"


def test_every_return_reason_has_its_sentences_in_both_languages() -> None:
    for language in LANGUAGES:
        blocks = (TEMPLATES / language / "_blocks.j2").read_text(encoding="utf-8")
        section = blocks.split("return_reason_by_reason")[1].split("%}")[0]
        for reason in ReturnReason:
            assert f'"{reason.value}":' in section
        apologies = blocks.split("return_apology_by_reason = {")[1].split("%}")[0]
        for reason in ReturnReason:
            assert (f'"{reason.value}":' in apologies) == is_store_fault(reason)


def test_refund_receipt_context() -> None:
    assert receipt("fr") == {
        "amount": "19,99\u00a0€",
        "method": "original",
        "payment": "card",
        "date": "vendredi 27 novembre",
        "reference": "RF-2087",
    }
    credit = receipt("en", method="store_credit")
    assert credit["payment"] is None and credit["date"] == "Friday 27 November"


# -- issue 14: what the customer reads is true ------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_refusal_names_the_consumer_mediator(language: Language) -> None:
    ctx = context_for("return_refused", language)
    ctx["store"] = {**ctx["store"], "mediator_name": "CM2C", "mediator_website": "https://www.cm2c.net"}
    for part in both_parts(render("return_refused", language, ctx)):
        assert "CM2C" in part and "https://www.cm2c.net" in part
        assert ("médiateur" if language == "fr" else "mediator") in part


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_tracking_number_is_asked_for_never_a_condition(language: Language) -> None:
    """R3 read through L221-24: ask for it and say why; a parcel without one is still taken back."""
    for part in both_parts(rendered("return_instructions", language)):
        assert "qu'avec ce numéro" not in part and "only accept a return with" not in part
        assert ("Sans numéro, votre retour reste bien sûr accepté" if language == "fr"
                else "Without a number your return is of course still accepted") in part


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_refund_told_before_the_return_lists_the_delivery(language: Language) -> None:
    ctx = context_for("return_instructions", language)
    if not ctx.get("refund"):
        pytest.skip("no refund in this context")
    ctx["refund"] = {**ctx["refund"], "delivery": "4,90 €" if language == "fr" else "€4.90"}
    for part in both_parts(render("return_instructions", language, ctx)):
        assert ("dont 4,90 € de frais de livraison" if language == "fr" else "including €4.90 for delivery") in part


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_exchange_email_names_the_variant_asked_for(language: Language) -> None:
    ctx = context_for("replacement_on_its_way", language) | {"exchange_for": "Bleu nuit, L"}
    for part in both_parts(render("replacement_on_its_way", language, ctx)):
        assert "Bleu nuit, L" in part


@pytest.mark.parametrize("language", ["fr", "en"])
def test_return_postage_refunded_says_the_amount_and_the_cap_in_text_and_html(language: Language) -> None:
    """Issue 14: the store pays the return, no label: the postage receipt's refund is told, and a
    receipt above the store's maximum is explained, never silently cut."""
    ctx = {"customer_first_name": "Alice", "order_name": "#1013", "store": dict(store_context(STORE, language)),
           "refund": receipt(language, amount="15.00"), "receipt_amount": format_money(eur("18.40"), language),
           "capped": True}
    message = render("return_postage_refunded", language, ctx)
    said = {"fr": ("ce retour est à nos frais", "jusqu'à 15,00"), "en": ("this return is on us", "up to €15.00")}
    for part in both_parts(message):
        assert said[language][0] in part
        assert said[language][1] in part
        assert ("18,40" if language == "fr" else "€18.40") in part
    assert "#1013" in message.subject
    uncapped = render("return_postage_refunded", language, ctx | {"capped": False})
    assert ("18,40" if language == "fr" else "€18.40") not in uncapped.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_instructions_refund_once_the_parcel_or_its_tracking_number_is_in_by_d2(language: Language) -> None:
    """L221-24: the store may wait for the goods or the proof of dispatch, then refunds by the legal
    date; "dès réception de votre colis" contradicted "vous rembourser sans attendre son arrivée"."""
    told = {
        "fr": ("dès que nous aurons reçu votre colis ou son numéro de suivi (la preuve de son envoi)",
               "et au plus tard le " + day(date(2026, 12, 11), language)),
        "en": ("as soon as we have your parcel or its tracking number (the proof that you sent it)",
               "by " + day(date(2026, 12, 11), language) + " at the latest"),
    }
    for part in both_parts(rendered("return_instructions", language)):
        assert all(phrase in part for phrase in told[language]), part
        assert "Dès réception de votre colis, nous vous rembourserons" not in part
        assert "As soon as your parcel reaches us, we'll refund" not in part


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_partial_refund_names_the_consumer_mediator_and_a_full_one_does_not(language: Language) -> None:
    """L616-1: a partial refund is the store's refusal of part of the claim: the mediator is named."""
    ctx = context_for("refund_confirmed", language)
    ctx["store"] = {**ctx["store"], "mediator_name": "CM2C", "mediator_website": "https://www.cm2c.net"}
    for part in both_parts(render("refund_confirmed", language, ctx)):
        assert "CM2C, https://www.cm2c.net" in part
        assert ("médiateur de la consommation" if language == "fr" else "consumer mediator") in part
    full = render("refund_confirmed", language, ctx | {"partial": None})
    for part in both_parts(full):
        assert "CM2C" not in part


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_earlier_refund_date_is_told_as_a_latest_date_from_the_cancellation_request(language: Language) -> None:
    """Issue 14 follow-up (D2, L221-24): a cancellation of the same order was the notice of
    withdrawal; the customer reads the new day as "at the latest", why it moved (counted from the
    cancellation request), that nothing is theirs to do, and no bank timing."""
    told = {
        "fr": ("Nous vous rembourserons au plus tard le " + day(date(2026, 12, 4), language),
               "demande d'annulation du " + day(date(2026, 11, 16), language), "Vous n'avez rien à faire"),
        "en": ("We'll refund you by " + day(date(2026, 12, 4), language) + " at the latest",
               "cancellation request of " + day(date(2026, 11, 16), language), "nothing you need to do"),
    }
    message = rendered("return_refund_date_earlier", language)
    assert ("avancé" if language == "fr" else "earlier") in message.subject
    for part in both_parts(message):
        assert all(phrase in part for phrase in told[language]), part
        assert not any(word in part.lower() for word in ("banque", "bank", "jours ouvrés", "business day"))


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_earlier_refund_date_gives_the_cancellation_as_reason_only_when_given(language: Language) -> None:
    """When the cancellation request is not what sets the new day (the day the parcel left or
    came back does), no reason sentence names it."""
    ctx = context_for("return_refund_date_earlier", language)
    del ctx["requested_on"]
    for part in both_parts(render("return_refund_date_earlier", language, ctx)):
        assert "annulation" not in part and "cancellation" not in part, part
        assert ("au plus tard le " if language == "fr" else " at the latest") in part
