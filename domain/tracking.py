"""Parcels at the carrier (issue 19): the carriers' own codes mapped to one small set, and what a
parcel's events say (delivered when, where; going back; silent for too long).

Each carrier has its own vocabulary: La Poste's Suivi v2 event codes (`DI1`, `MD2`, `RE1`...),
DHL's Unified API `statusCode` (`pre-transit`, `transit`, `delivered`, `failure`, `unknown`) and
AfterShip's tags and subtags (`InTransit`, `Delivered`, `Exception_003`...). They are mapped here,
as tables, to the seven statuses the rules need; the carrier's own code is always kept beside the
mapped status (the ledger row, the dispute record).

Nothing here talks to the outside world; the clock is passed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class TrackingStatus(StrEnum):
    INFO_RECEIVED = "info_received"  # the carrier knows of the parcel, has not taken it yet
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"  # on the round, or waiting at a pickup point
    DELIVERY_FAILED = "delivery_failed"  # attempted, not delivered (notice left, held at the counter)
    DELIVERED = "delivered"
    RETURNED_TO_SENDER = "returned_to_sender"  # refused, or on its way / back to the sender
    EXCEPTION = "exception"  # held in customs, damaged, a problem the carrier names, or a code we do not know


# La Poste Suivi v2 `shipment.event[].code` (developer.laposte.fr, "Suivi v2", the event code list).
LAPOSTE_CODES: dict[str, TrackingStatus] = {
    "DR1": TrackingStatus.INFO_RECEIVED,  # Déclaratif réceptionné
    "PC1": TrackingStatus.IN_TRANSIT,  # Pris en charge
    "PC2": TrackingStatus.IN_TRANSIT,  # Pris en charge dans le pays d'expédition
    "ET1": TrackingStatus.IN_TRANSIT,  # En cours de traitement
    "ET2": TrackingStatus.IN_TRANSIT,  # ... dans le pays d'expédition
    "ET3": TrackingStatus.IN_TRANSIT,  # ... dans le pays de destination
    "ET4": TrackingStatus.IN_TRANSIT,  # ... dans un pays de transit
    "EP1": TrackingStatus.IN_TRANSIT,  # En attente de présentation
    "DO1": TrackingStatus.IN_TRANSIT,  # Entrée en douane
    "DO2": TrackingStatus.IN_TRANSIT,  # Sortie de douane
    "DO3": TrackingStatus.EXCEPTION,  # Retenu en douane
    "PB1": TrackingStatus.EXCEPTION,  # Problème en cours
    "PB2": TrackingStatus.IN_TRANSIT,  # Problème résolu
    "MD2": TrackingStatus.OUT_FOR_DELIVERY,  # Mis en distribution
    "ND1": TrackingStatus.DELIVERY_FAILED,  # Non distribuable
    "AG1": TrackingStatus.DELIVERY_FAILED,  # En attente d'être retiré au guichet (avis de passage)
    "RE1": TrackingStatus.RETURNED_TO_SENDER,  # Retourné à l'expéditeur
    "DI1": TrackingStatus.DELIVERED,  # Distribué
    "DI2": TrackingStatus.RETURNED_TO_SENDER,  # Distribué à l'expéditeur (back home)
}

# DHL Shipment Tracking - Unified API `status.statusCode` / `events[].statusCode` (its enum).
DHL_CODES: dict[str, TrackingStatus] = {
    "pre-transit": TrackingStatus.INFO_RECEIVED,
    "transit": TrackingStatus.IN_TRANSIT,
    "delivered": TrackingStatus.DELIVERED,
    "failure": TrackingStatus.EXCEPTION,
    "unknown": TrackingStatus.EXCEPTION,
}

# AfterShip Tracking `tag` (its "Delivery Statuses"); `Pending` is no event at all (nothing known yet).
AFTERSHIP_TAGS: dict[str, TrackingStatus] = {
    "InfoReceived": TrackingStatus.INFO_RECEIVED,
    "InTransit": TrackingStatus.IN_TRANSIT,
    "OutForDelivery": TrackingStatus.OUT_FOR_DELIVERY,
    "AvailableForPickup": TrackingStatus.OUT_FOR_DELIVERY,
    "AttemptFail": TrackingStatus.DELIVERY_FAILED,
    "Delivered": TrackingStatus.DELIVERED,
    "Exception": TrackingStatus.EXCEPTION,
    "Expired": TrackingStatus.EXCEPTION,
}
# ...and the subtags ("Delivery Sub-statuses") that say more than their tag.
AFTERSHIP_SUBTAGS: dict[str, TrackingStatus] = {
    "Exception_003": TrackingStatus.RETURNED_TO_SENDER,  # Customer refused delivery
    "Exception_010": TrackingStatus.RETURNED_TO_SENDER,  # Returning package to sender
    "Exception_011": TrackingStatus.RETURNED_TO_SENDER,  # Package returned to sender
}


# L221-18: the withdrawal period runs from the day the consumer (or a third party they designate)
# takes physical possession of the goods. A parcel left at a pickup point, a locker or the post
# office counter, waiting to be collected, is not in their hands yet: whatever code a carrier puts
# on such an event, it is not the delivery (D1). "Picked up by the customer" / "retiré" is.
_AWAITING_COLLECTION = re.compile(
    r"(?:ready|available|awaiting|waiting|held|deposited|placed|left)\b.{0,40}"
    r"(?:pick[- ]?up|collection|collect\b|locker|packstation|parcel ?shop|post ?office|counter|service point)"
    r"|\b(?:delivered|dropped) (?:to|at|in|into) (?:the |a )?(?:pick[- ]?up|locker|packstation|parcel ?shop|"
    r"post ?office|service point|access point|relay)"
    r"|disponible|en attente de retrait|(?:à|a) retirer|attend(?:re)? d'(?:ê|e)tre retir"
    r"|d(?:é|e)pos(?:é|e) en (?:point|relais|consigne)|consigne|point relais|bureau de poste"
    r"|zur abholung|abholbereit|abholstation|in die packstation|in der packstation|eingeliefert",
    re.IGNORECASE,
)
_COLLECTED = re.compile(r"picked up by|collected by|has been collected|retir(?:é|e) par|abgeholt|remis (?:au|en main)",
                        re.IGNORECASE)


def awaiting_collection(description: str) -> bool:
    """The carrier's words say the parcel waits at a pickup point, locker or counter (not collected)."""
    return bool(_AWAITING_COLLECTION.search(description or "")) and not _COLLECTED.search(description or "")


def _not_yet_delivered(status: TrackingStatus, description: str) -> TrackingStatus:
    if status == TrackingStatus.DELIVERED and awaiting_collection(description):
        return TrackingStatus.OUT_FOR_DELIVERY
    return status


# Delivered, but not into the consumer's hands (Directive 2011/83/EU art. 9(2)(b), Code de la
# consommation L221-18): the period runs from the day the consumer, or a third party other than the
# carrier *and indicated by the consumer*, acquires physical possession of the goods. A neighbour
# the carrier chose, or a porch, garage or "safe place" the carrier chose, is neither: the event is
# the carrier's delivery (a fact for the dispute record) but not the proof of receipt that starts
# the withdrawal period (D1). A neighbour or a place the consumer chose (DHL's Wunschnachbar /
# Wunschablageort, "preferred neighbour", "as instructed") is the consumer's designation: it counts,
# and so does the consumer's own letterbox (a receptacle only they control).
_LEFT_WITH_OTHERS = re.compile(
    r"neighbou?r|voisin|nachbar|vecino|vicino|buren|buurman"
    r"|safe ?place|lieu s(?:û|u)r|(?:left|placed) (?:at|on|in|by|outside|behind)\b|porch|doorstep|garage\b"
    r"|ablageort|abgestellt|d(?:é|e)pos(?:é|e) (?:devant|sur|dans le jardin|au pied)"
    r"|remis (?:au|à la) (?:gardien|concierge)"
    r"|concierge|reception desk|mail ?room",
    re.IGNORECASE,
)
_CHOSEN_BY_CONSUMER = re.compile(
    r"wunschnachbar|wunschablageort|wunsch-?ablageort|preferred (?:neighbou?r|location|place|safe ?place|drop)"
    r"|as (?:instructed|requested)|(?:your|the customer's|recipient's) (?:chosen|designated|nominated)"
    r"|d(?:é|e)sign(?:é|e) par (?:vous|le destinataire)|selon vos instructions|(?:à|a) l'endroit (?:choisi|indiqu)"
    r"|signed (?:for )?by (?:the )?(?:recipient|addressee|customer)|picked up by|collected by|retir(?:é|e) par"
    r"|letter ?box|mail ?box|bo(?:î|i)te (?:aux|à) lettres|briefkasten|buz(?:ó|o)n|brievenbus",
    re.IGNORECASE,
)


def left_with_others(description: str) -> bool:
    """The carrier's words say the parcel was left with someone or somewhere the carrier chose (a
    neighbour, a porch, a "safe place"), not handed to the consumer or to whom they designated."""
    text = description or ""
    return bool(_LEFT_WITH_OTHERS.search(text)) and not _CHOSEN_BY_CONSUMER.search(text)


# The carriers' own codes for a delivery to a neighbour (AfterShip's Delivery Sub-statuses:
# `Delivered_005` "Delivered to neighbor"): the code says it whatever words the checkpoint carries.
LEFT_WITH_OTHERS_CODES = frozenset({"Delivered_005"})


def delivered_to_others(event: ParcelEvent) -> bool:
    """The carrier's code or words say the parcel was left with others (see `left_with_others`)."""
    return event.code in LEFT_WITH_OTHERS_CODES or left_with_others(event.description)


def possession_event(events: Sequence[ParcelEvent]) -> ParcelEvent | None:
    """D1, the proof of receipt: the delivery event when it put the goods in the consumer's hands
    (or of a third party they designated); None when the carrier only says it left the parcel
    with a neighbour or in a place it chose (art. 9(2)(b), L221-18), or never delivered it."""
    found = delivered_event(events)
    return None if found is None or delivered_to_others(found) else found


def laposte_status(code: str, label: str = "") -> TrackingStatus:
    """A La Poste event code; a code not in the list is an exception (a human looks at it)."""
    return _not_yet_delivered(LAPOSTE_CODES.get(code.strip().upper(), TrackingStatus.EXCEPTION), label)


# DHL's statusCode has no "returned": a failure whose description says the parcel goes back is one
# (the words the product already reads in Shopify's scans, flows/returns.carrier_says_returned).
_RETURN_WORDS = ("refus", "return", "retour", "sender", "shipper", "expéditeur", "expediteur", "absender")


def dhl_status(code: str, description: str = "") -> TrackingStatus:
    status = DHL_CODES.get(code.strip().lower(), TrackingStatus.EXCEPTION)
    if status == TrackingStatus.EXCEPTION and any(w in description.lower() for w in _RETURN_WORDS):
        return TrackingStatus.RETURNED_TO_SENDER
    return _not_yet_delivered(status, description)


def aftership_status(tag: str, subtag: str | None = None, message: str = "") -> TrackingStatus | None:
    """AfterShip's tag and subtag; None for `Pending` (no event yet)."""
    if subtag and subtag in AFTERSHIP_SUBTAGS:
        return AFTERSHIP_SUBTAGS[subtag]
    if tag == "Pending":
        return None
    return _not_yet_delivered(AFTERSHIP_TAGS.get(tag, TrackingStatus.EXCEPTION), message)


class ParcelEvent(BaseModel):
    """One carrier event in the neutral shape every consumer reads (the ledger, D1, R5/R6, the
    dispute record): the carrier's own code kept beside the mapped status."""

    model_config = ConfigDict(frozen=True)

    carrier: str  # laposte | dhl | aftership:<slug>
    tracking_number: str
    code: str  # the carrier's own code (DI1, delivered, Delivered_001...)
    status: TrackingStatus
    happened_at: datetime  # aware
    description: str = ""
    city: str | None = None
    postcode: str | None = None
    country: str | None = None

    @property
    def place(self) -> str:
        return ", ".join(p for p in (self.postcode, self.city, self.country) if p)


def timeline(events: Iterable[ParcelEvent]) -> list[ParcelEvent]:
    """Oldest first, one event per (carrier, code, time)."""
    seen: dict[tuple[str, str, datetime], ParcelEvent] = {}
    for e in events:
        seen.setdefault((e.carrier, e.code, e.happened_at), e)
    return sorted(seen.values(), key=lambda e: e.happened_at)


def delivered_event(events: Sequence[ParcelEvent]) -> ParcelEvent | None:
    """D1: the parcel's delivery (the first DELIVERED event: a later duplicate scan does not move
    the date). None when the parcel went back to the sender after it, or was never delivered."""
    ordered = timeline(events)
    delivered = next((e for e in ordered if e.status == TrackingStatus.DELIVERED), None)
    if delivered is None:
        return None
    back = any(e.status == TrackingStatus.RETURNED_TO_SENDER and e.happened_at > delivered.happened_at
               for e in ordered)
    return None if back else delivered


def first_scan(events: Sequence[ParcelEvent]) -> ParcelEvent | None:
    """D2: the carrier's first scan of a parcel it holds (info received is only a label)."""
    return next((e for e in timeline(events) if e.status != TrackingStatus.INFO_RECEIVED), None)


def current_status(events: Sequence[ParcelEvent]) -> TrackingStatus | None:
    ordered = timeline(events)
    return ordered[-1].status if ordered else None


def is_lost(events: Sequence[ParcelEvent], *, since: datetime, now: datetime, silent_days: int) -> bool:
    """A parcel that left (since = the dispatch) and has had no scan for `silent_days`, never
    delivered nor going back: "lost in transit" for the operator and the supplier claim."""
    status = current_status(events)
    if status in (TrackingStatus.DELIVERED, TrackingStatus.RETURNED_TO_SENDER):
        return False
    ordered = timeline(events)
    last = ordered[-1].happened_at if ordered else since
    return now - last >= timedelta(days=silent_days)


# How soon to read a parcel again, by its state (the "rate that follows their state").
POLL_EVERY: dict[TrackingStatus | None, timedelta] = {
    None: timedelta(hours=12),  # nothing known yet
    TrackingStatus.INFO_RECEIVED: timedelta(hours=12),
    TrackingStatus.IN_TRANSIT: timedelta(hours=8),
    TrackingStatus.OUT_FOR_DELIVERY: timedelta(hours=2),
    TrackingStatus.DELIVERY_FAILED: timedelta(hours=6),
    TrackingStatus.EXCEPTION: timedelta(hours=24),
}
FINAL = frozenset({TrackingStatus.DELIVERED, TrackingStatus.RETURNED_TO_SENDER})


def next_poll(events: Sequence[ParcelEvent], now: datetime) -> datetime | None:
    """When to read the parcel again; None once its story is over (delivered, or back home)."""
    status = current_status(events)
    if status in FINAL:
        return None
    return now + POLL_EVERY.get(status, timedelta(hours=12))


# -- does a return parcel's delivery fit the return address? (R6: another's parcel is no return) ----------
_COUNTRIES: dict[str, tuple[str, ...]] = {
    "FR": ("FRA", "FRANCE"), "DE": ("DEU", "GERMANY", "DEUTSCHLAND", "ALLEMAGNE"), "BE": ("BEL", "BELGIUM",
    "BELGIQUE", "BELGIE"), "NL": ("NLD", "NETHERLANDS", "NEDERLAND", "PAYS-BAS"), "LU": ("LUX", "LUXEMBOURG"),
    "ES": ("ESP", "SPAIN", "ESPANA", "ESPAÑA", "ESPAGNE"), "IT": ("ITA", "ITALY", "ITALIA", "ITALIE"),
    "PT": ("PRT", "PORTUGAL"), "AT": ("AUT", "AUSTRIA", "ÖSTERREICH", "AUTRICHE"), "CH": ("CHE", "SWITZERLAND",
    "SUISSE", "SCHWEIZ"), "IE": ("IRL", "IRELAND", "IRLANDE"), "PL": ("POL", "POLAND", "POLSKA", "POLOGNE"),
    "GB": ("GBR", "UNITED KINGDOM", "UK", "ROYAUME-UNI", "GREAT BRITAIN"), "US": ("USA", "UNITED STATES",
    "ETATS-UNIS", "ÉTATS-UNIS"), "CN": ("CHN", "CHINA", "CHINE"), "HK": ("HKG", "HONG KONG"),
}
_COUNTRY_OF = {alias: iso for iso, names in _COUNTRIES.items() for alias in (iso, *names)}


def country_code(value: str | None) -> str | None:
    """An ISO 3166 alpha-2 code from a carrier's country (FR, FRA, France), None when unknown."""
    return _COUNTRY_OF.get((value or "").strip().upper()) if value else None


def address_country(address: str) -> str | None:
    """The country the address names in its last part ("..., 69007 Lyon, France"), else None."""
    last = re.split(r"[,\n]", address.strip())[-1].strip().upper() if address.strip() else ""
    return _COUNTRY_OF.get(last) if last and not any(ch.isdigit() for ch in last) else None


def _alnum(text: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", text.upper())


# Postcodes as written in an address: 4 to 6 digits (FR, DE, ES, IT, BE, AT, CH, US, CN...), NL's
# "1234 AB", PT's "1234-567", the UK's "SW1A 1AA" (a street number rarely has 4 digits).
_POSTCODE = re.compile(r"\b(?:\d{4}-\d{3}|\d{4} ?[A-Z]{2}|[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|\d{4,6})\b")


def address_postcodes(address: str) -> set[str]:
    return {_alnum(m) for m in _POSTCODE.findall(address.upper())}


def delivery_fits_address(event: ParcelEvent, address: str | None) -> bool | None:
    """Whether the carrier's delivery of a return parcel fits the return address: True when the
    delivered-to postcode is the address's (or, when the carrier gives only a country, the country
    is the address's); False when what the carrier gives differs; None when it cannot be told (the
    carrier gives no place, the address names none, the parcel was left with a neighbour): then
    only the operator may say the goods are back."""
    if not address or delivered_to_others(event):
        return None
    postcode, ours = _alnum(event.postcode or ""), address_postcodes(address)
    if len(postcode) >= 3 and ours:
        return postcode in ours
    carrier_country, country = country_code(event.country), address_country(address)
    if carrier_country and country:
        return carrier_country == country
    return None
