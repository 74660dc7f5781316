"""The store's carriers, named one way for every processor (K3, issue 15).

A fulfilment's tracking company is free text in the store ("Colissimo", "colissimo", "La Poste
Colissimo", "DHL Express"). Evidence names the carrier the same way everywhere: Stripe's
`shipping_carrier` is free text, so it gets the carrier's usual name; PayPal's `tracking_info`
wants a code from PayPal's carrier list (the `carrier` enumeration of PayPal's Add Tracking API and
server SDKs: `FR_COLIS` is Colissimo, `CHRONOPOST_FR` Chronopost, `FR_EXAPAQ` DPD France, ...), and
`OTHER` with the name in `carrier_name_other` only for a carrier the list does not have.

Nothing here talks to the outside world.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OTHER = "OTHER"


@dataclass(frozen=True)
class Carrier:
    name: str  # what a reviewer reads (Stripe shipping_carrier, the letter, the tracking record)
    paypal: str  # PayPal's carrier code, or OTHER


# (words that name the carrier in the store's text, most specific first) -> the carrier
_KNOWN: tuple[tuple[tuple[str, ...], Carrier], ...] = (
    (("colissimo", "coliposte"), Carrier("Colissimo", "FR_COLIS")),
    (("chronopost",), Carrier("Chronopost", "CHRONOPOST_FR")),
    (("la poste", "laposte", "lettre suivie"), Carrier("La Poste", "FR_LAPOSTE")),
    (("dpd france", "exapaq"), Carrier("DPD France", "FR_EXAPAQ")),
    (("gls france",), Carrier("GLS France", "FR_GLS")),
    (("geodis",), Carrier("Geodis", "FR_GEODIS")),
    # "DHL" alone is read as DHL Express (PayPal's `DHL`); another DHL service ("DHL eCommerce",
    # "DHL Parcel") keeps the store's own name: a reviewer is never told it went by DHL Express.
    (("dhl express", "dhl"), Carrier("DHL Express", "DHL")),
    (("ups",), Carrier("UPS", "UPS")),
    (("fedex",), Carrier("FedEx", "FEDEX")),
    (("royal mail",), Carrier("Royal Mail", "ROYAL_MAIL")),
    (("usps",), Carrier("USPS", "USPS")),
)


def _words(text: str) -> str:
    return " " + re.sub(r"[^a-z0-9]+", " ", text.casefold()) + " "


def carrier(company: str | None) -> Carrier | None:
    """The store's tracking company as one carrier: its usual name and PayPal code.

    An unknown company keeps the store's own spelling and PayPal's OTHER; no company: None.
    """
    text = (company or "").strip()
    if not text:
        return None
    words = _words(text)
    for names, known in _KNOWN:
        if known.paypal == "DHL":  # only "DHL Express" or "DHL" alone
            if words.strip() in names:
                return known
            continue
        if any(f" {n} " in words for n in names):
            return known
    return Carrier(text, OTHER)
