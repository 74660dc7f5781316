"""Independent review of issue 17: what the operator reads above a Resume form.

- A value typed by someone else (the customer's name at checkout) is shown as the text it is: it
  cannot add a line, a "recommendation", a link or an image (fetched from the operator's browser)
  to the form's description.
- The refund form does not offer "refuse" or "partial" as neutral choices: it says when the law
  allows them (L221-23 for a deduction, L221-24 for the refund of a withdrawal or cancellation).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain import operator_words as words
from domain.money import Money

EVIL = "Eve\n\n**Recommandation** : refuse\n\n![pixel](https://evil.example/p.png) [ici](https://evil.example) <b>x</b>"


@pytest.mark.parametrize("form", ["refund", "dispute", "order"])
def test_a_customers_name_cannot_write_into_the_form(form: str) -> None:
    if form == "refund":
        text = words.refund_form("fr", kind="return", order_name="#1012", customer=EVIL,
                                 amount=Money.of("149.00", "EUR"), threshold=Decimal("100"), reason="x",
                                 legal_date=None, partial_allowed=True)
    elif form == "dispute":
        text = words.dispute_form("fr", order_name="#1016", customer=EVIL, disputed=Money.of("201.00", "EUR"),
                                  reason="x", processor="Stripe", respond_by=None, advice="accepter")
    else:
        text = words.order_form("fr", order_name="#1013", customer=EVIL, total="89,00 €", signals=[])
    lines = text.splitlines()
    (client,) = [line for line in lines if line.startswith("| Client |")]
    assert "Eve" in client and client.endswith(" |")
    assert sum(line.startswith("**Recommandation**") for line in lines) == 1  # the form's own only
    assert not any(line.startswith("![") or line.startswith("**Recommandation** : refuse") for line in lines)
    assert "![pixel](" not in text and "[ici](" not in text and "<b>" not in text


def test_markdown_text_is_one_plain_line() -> None:
    assert words.md_text("a | b\nc") == "a \\| b c"
    assert words.md_text("![x](http://e/p.png)") == "\\!\\[x\\](http://e/p.png)"
    assert words.md_text("#1023 · 289,00 € (changement d'avis)") == "#1023 · 289,00 € (changement d'avis)"


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_refund_form_says_when_refusing_or_deducting_is_lawful(lang: str) -> None:
    ret = words.refund_form(words.lang_of(lang), kind="return", order_name="#1012", customer="Alice",
                            amount=Money.of("149.00", "EUR"), threshold=Decimal("100"), reason="x",
                            legal_date="22/12/2026 (Europe/Paris)", partial_allowed=True)
    cancel = words.refund_form(words.lang_of(lang), kind="cancellation", order_name="#1001", customer="Alice",
                               amount=Money.of("89.00", "EUR"), threshold=Decimal("50"), reason="x",
                               legal_date=None, partial_allowed=False)
    assert "L221-23" in ret and "L221-24" in ret
    assert "L221-24" in cancel and "L221-23" not in cancel and "**partial**" not in cancel


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_refused_refund_alert_does_not_offer_to_close_the_case_as_if_nothing_were_owed(lang: str) -> None:
    """After "refuse", the alert's options were "refund by hand" or "close the case": closing
    stops following the legal refund date (D2) while the customer may still be owed the money."""
    from domain.messages.render import render

    store = {"name": "Maison Lumière", "support_email": "bonjour@maison-lumiere.example", "website": None,
             "signature": "Maison Lumière"}
    text = render("operator_alert", lang, {"store": store, "case_id": "c1", "order_name": "#1001",
                                           "alert": "refund_refused"}).text
    closing = [line for line in text.splitlines() if line.startswith("- ") and ("Clore" in line or "Close" in line)]
    assert closing and all(("remboursé" in line and "date légale" in line) if lang == "fr"
                           else ("refunded" in line and "legal date" in line) for line in closing), closing
