"""Hypothesis strategies for the receiver's fuzz run: request bodies from the pydantic models'
JSON schemas (or the OpenAPI document, when a route declares its body), arbitrary and broken
JSON, huge and odd strings, odd headers, and signed / unsigned / wrongly signed webhooks.

A generated request says what it expects of the signature check (`authentic`): True must never
be answered 401, False must be answered 401 (or 413 when the body is too large to be read).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from domain.inbound import EVENT_NAMES
from integrations.shopify.webhooks import sign_webhook
from integrations.stripe.webhooks import compute_signature, sign_payload

MAX_BODY = 1_000_000  # ReceiverSettings.max_body_bytes, the default the fuzz runs with


@dataclass
class FuzzRequest:
    family: str
    method: str
    path: str
    content: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    authentic: bool | None = None  # None: no signature or token on this route

    def __repr__(self) -> str:  # hypothesis prints the falsifying example: keep it readable
        body = self.content[:300] + (b"..." if len(self.content) > 300 else b"")
        return (f"FuzzRequest({self.method} {self.path} params={self.params} authentic={self.authentic} "
                f"headers={self.headers} body[{len(self.content)}]={body!r})")


@dataclass(frozen=True)
class SeededOrder:
    name: str  # "#1001"
    legacy_id: str
    email: str
    skus: tuple[str, ...]
    address1: str = "1 rue de la Paix"  # the shipping address's street line
    phone: str = "+33 6 00 00 00 00"


# Customers' phones given to the seeded orders (the demo orders have none): the fuzz puts them,
# the street lines and the emails in bodies, and no log record may show one (issue 13).
PHONES = ["+33 6 12 34 56 78", "+33 7 81 22 90 14", "06 45 98 12 33", "+44 7700 900123", "+33 6 70 11 42 08",
          "+33 6 02 57 63 91"]
OTHER_EMAIL = "someone@example.com"


def personal_in_bodies(orders: list[SeededOrder]) -> set[str]:
    """Every street line, phone and email the strategies put in a body (for the log scan)."""
    return {v for o in orders for v in (o.address1, o.phone, o.email)} | {OTHER_EMAIL}


# -- text, JSON values, raw bodies --------------------------------------------------------------

HOSTILE = [
    "", " ", "\x00", "\t", "\u202e", "🙂", "é", "ß", "\ufeff", "\ud800", "\udfff", "NaN", "null", "true", "-0",
    "\r\nBcc: evil@x.example", "{{ 7*7 }}", "{% for x in y %}", "<script>alert(1)</script>",
    "' OR 1=1 --", "../../etc/passwd", "%s%n%x", "${jndi:ldap://x}", "#", "##1001", "#1001 ", "١٠٠١",
    "gid://shopify/Order/1", "a@b.c", "A@B.CO", "x@y", "@", "1e400", "9" * 400,
]

any_char = st.characters(codec=None, exclude_categories=())  # every code point, lone surrogates too
plain_chars = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Co", "Cn"))


def huge_text(min_size: int = 2_001, max_size: int = 20_000) -> st.SearchStrategy[str]:
    return st.builds(lambda n, c: c * n, st.integers(min_size, max_size), st.sampled_from(["x", "é", "🙂", "\x00"]))


odd_text: st.SearchStrategy[str] = st.one_of(
    st.text(max_size=30),
    st.text(any_char, max_size=30),
    st.sampled_from(HOSTILE),
    st.sampled_from(HOSTILE),
    st.text(any_char, max_size=30),
)
odd_or_huge_text = odd_text | huge_text()

json_scalars: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**20, max_value=10**400),
    st.floats(), odd_text,
)

_nested = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(odd_text, children, max_size=4),
    max_leaves=12,
)
json_values: st.SearchStrategy[Any] = st.one_of(*[_nested] * 7, huge_text())


@st.composite
def encoded(draw: st.DrawFn, value: Any) -> bytes:
    """`value` as JSON bytes, mostly well formed, sometimes broken in one of the usual ways."""
    how = draw(st.sampled_from(["compact"] * 8 + ["ascii"] * 3 + ["pretty", "truncated", "tail", "bom", "utf16",
                                                                  "duplicate-key"]))
    text = json.dumps(value, ensure_ascii=how == "ascii", indent=2 if how == "pretty" else None)
    raw = text.encode("utf-8", "surrogatepass")  # a lone surrogate becomes invalid UTF-8
    if how == "truncated" and len(raw) > 1:
        raw = raw[: draw(st.integers(1, len(raw) - 1))]
    elif how == "tail":
        raw += draw(st.sampled_from([b"}", b",", b"\x00", b" garbage", b"\xff"]))
    elif how == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif how == "utf16":
        raw = text.encode("utf-16", "surrogatepass")
    elif how == "duplicate-key" and isinstance(value, dict) and value:
        key = json.dumps(next(iter(value)))
        raw = raw[:-1] + f", {key}: 1}}".encode() if raw.endswith(b"}") else raw
    return raw


broken_bodies: st.SearchStrategy[bytes] = st.one_of(
    st.binary(max_size=200),
    st.sampled_from([b"", b"{", b"[", b"null", b"[]", b"0", b'"x"', b"{}", b"NaN", b"\xff\xfe", b"{\"a\":}",
                     b"\x00" * 10, b'{"id": 1}' * 3]),
    st.integers(100, 100_000).map(lambda depth: b"[" * depth + b"]" * depth),  # nesting bombs
    st.integers(100, 100_000).map(lambda depth: b'{"a":' * depth + b"1" + b"}" * depth),
    st.just(b"x" * (MAX_BODY + 1)),
)


def body_of(value: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """JSON of `value` (well formed or broken), or any broken body."""
    return st.one_of(*[value.flatmap(encoded)] * 5, broken_bodies)


# -- headers -----------------------------------------------------------------------------------------

header_values = st.binary(max_size=60).map(lambda b: bytes(c for c in b if c >= 0x20 or c == 0x09))
header_text = st.one_of(header_values, st.sampled_from([b"", b" ", b"\xe9t\xe9", b"\xff" * 8, b"x" * 8000]))
content_types = st.sampled_from([b"application/json", b"application/json; charset=utf-8", b"text/plain",
                                 b"application/x-www-form-urlencoded", b"multipart/form-data; boundary=x", b""])


@st.composite
def extra_headers(draw: st.DrawFn) -> list[tuple[bytes, bytes]]:
    names = st.sampled_from([b"content-type", b"content-length", b"user-agent", b"x-forwarded-for",
                             b"idempotency-key", b"x-shopify-topic", b"x-shopify-shop-domain", b"authorization",
                             b"x-random", b"cookie", b"transfer-encoding"])
    values = st.one_of(header_text, content_types,
                       st.sampled_from([b"\xb2", b"-1", b"99999999999999999999", b"0", b"abc", b"1e3"]))
    return draw(st.lists(st.tuples(names, values), max_size=3))


# -- bodies from JSON schemas -----------------------------------------------------------------------


def from_schema(schema: dict[str, Any], defs: dict[str, Any], *, clean: bool = False) -> st.SearchStrategy[Any]:
    """Values of the shape `schema` describes (the subset pydantic writes): types, enums,
    lengths and bounds. `clean`: within the bounds, in plain text; otherwise also at and just
    past the limits, odd text and other types. Validators the schema cannot express (an email,
    an order number) are left to the overrides in `request_body`."""
    if "$ref" in schema:
        return from_schema(defs[schema["$ref"].rsplit("/", 1)[-1]], defs, clean=clean)
    if "anyOf" in schema:
        return st.one_of([from_schema(s, defs, clean=clean) for s in schema["anyOf"]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        lo, hi = schema.get("minLength", 0), schema.get("maxLength")
        plain = st.text(plain_chars, min_size=lo, max_size=max(lo, min(hi or 40, 40)))
        if clean:
            return plain
        edges = [n for n in (lo, lo - 1, hi, (hi or 0) + 1) if n is not None and n >= 0]
        return st.one_of(plain, odd_or_huge_text, st.sampled_from(edges).map(lambda n: "é" * n))
    if kind == "integer":
        lo, hi = schema.get("minimum"), schema.get("maximum")
        if clean:
            return st.integers(lo, hi)
        edges = [n + d for n in (lo, hi) if n is not None for d in (-1, 0, 1)]
        return st.one_of(st.integers(lo, hi), st.sampled_from(edges or [0]), st.integers())
    if kind == "number":
        return st.floats(allow_nan=not clean, allow_infinity=not clean)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        items = from_schema(schema.get("items", {}), defs, clean=clean)
        lo, hi = schema.get("minItems", 0), schema.get("maxItems")
        sizes = st.integers(lo, max(lo, min(hi or 3, 3)))
        if not clean:
            sizes |= st.sampled_from([n for n in (hi, (hi or 0) + 1) if n])
        return sizes.flatmap(lambda n: st.lists(items, min_size=n, max_size=n))
    if kind == "object" or "properties" in schema:
        return _object(schema, defs, clean=clean)
    return json_values


def _object(schema: dict[str, Any], defs: dict[str, Any], *, clean: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    return st.fixed_dictionaries(
        {k: from_schema(v, defs, clean=clean) for k, v in props.items() if k in required},
        optional={k: from_schema(v, defs, clean=clean) for k, v in props.items() if k not in required},
    )


def schema_of(model_schema: dict[str, Any], *, clean: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    return _object(model_schema, model_schema.get("$defs", {}), clean=clean)


@st.composite
def mutated(draw: st.DrawFn, body: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """One body made wrong the usual ways: a missing field, an unknown one, a wrong type."""
    body = dict(body)
    how = draw(st.sampled_from(["none"] * 6 + ["drop", "extra", "retype", "null"]))
    keys = sorted(body)
    if how == "drop" and keys:
        body.pop(draw(st.sampled_from(keys)))
    elif how == "extra":
        body[draw(st.sampled_from(["surprise", "__proto__", "id", "constructor"]) | odd_text)] = draw(json_values)
    elif how == "retype" and keys:
        body[draw(st.sampled_from(keys))] = draw(json_values)
    elif how == "null" and schema.get("required"):
        body[draw(st.sampled_from(sorted(schema["required"])))] = None
    return body


# -- realistic overrides -----------------------------------------------------------------------------


@st.composite
def order_number(draw: st.DrawFn, order: SeededOrder) -> str:
    return draw(st.sampled_from([order.name, order.name.lstrip("#"), f" {order.name} ", "#99999", "#1",
                                 "#" + "9" * 21])
                | odd_text)


@st.composite
def customer_email(draw: st.DrawFn, order: SeededOrder) -> str:
    return draw(st.sampled_from([order.email, order.email.upper(), f" {order.email} ", OTHER_EMAIL,
                                 order.email.replace("@", "@@")])
                | odd_text)


@st.composite
def request_body(draw: st.DrawFn, model_schema: dict[str, Any] | None,
                 orders: list[SeededOrder]) -> bytes:
    """A body for a JSON request endpoint: schema-shaped and realistic (the seeded orders'
    numbers, emails and SKUs), then maybe made wrong; or arbitrary JSON; or broken bytes."""
    if model_schema is None:
        return draw(body_of(json_values))
    kind = draw(st.sampled_from(["realistic"] * 5 + ["schema"] * 2 + ["json", "broken"]))
    if kind == "json":
        return draw(body_of(json_values))
    if kind == "broken":
        return draw(broken_bodies)
    body = draw(schema_of(model_schema, clean=kind == "realistic"))
    if kind == "realistic":
        order = draw(st.sampled_from(orders))
        props = model_schema.get("properties", {})
        likely = st.sampled_from([True] * 7 + [False])  # mostly the realistic value
        if "order_number" in props:
            body["order_number"] = order.name if draw(likely) else draw(order_number(order))
        if "email" in props:
            body["email"] = order.email if draw(likely) else draw(customer_email(order))
        if "items" in props and draw(likely):
            skus = draw(st.lists(st.sampled_from(order.skus), max_size=len(order.skus), unique=True))
            if props["items"].get("items", {}).get("type") == "string":
                body["items"] = skus
            else:
                body["items"] = [{"sku": s, "quantity": draw(st.integers(1, 3))} for s in skus]
        if "skus" in props and draw(likely):
            body["skus"] = draw(st.lists(st.sampled_from(order.skus), min_size=1, max_size=3))
        if "tracking_number" in props and draw(likely):
            body["tracking_number"] = draw(st.sampled_from(["6A99887766FR", "CJPKL20081108", "LX 1234-5678"]))
        for key in ("photo_urls", "tracking_url", "label_url"):
            if key in body:
                url = "https://photos.example/a.jpg" if draw(likely) else draw(
                    st.sampled_from(["javascript:alert(1)", "ftp://x/y", "https://a b"]) | odd_text)
                body[key] = [url] if props[key].get("type") == "array" else url
        if "message" in props and not draw(likely):
            body["message"] = draw(odd_or_huge_text | st.just(
                f"Livraison au {order.address1}, joignable au {order.phone} ou {order.email}"))
    return draw(encoded(draw(mutated(body, model_schema))))


# -- webhooks --------------------------------------------------------------------------------------

# Hypothesis repeats simple values on purpose (st.uuids() gives the same few often): a fresh
# delivery id is drawn outside its data, so that "fresh" means first delivery.
fresh_ids = st.builds(uuid.uuid4)
REUSED_IDS = ["dup-1", "dup-2", "dup-3"]  # delivery ids and Idempotency-Keys sent more than once
SHOPIFY_TOPICS = sorted({t for (s, t) in EVENT_NAMES if s == "shopify"}
                        | {"orders/create", "orders/paid", "app/uninstalled", "disputes/won", "returns/x"})
STRIPE_TYPES = sorted({t for (s, t) in EVENT_NAMES if s == "stripe"} | {"charge.refunded", "payout.paid"})
PAYPAL_TYPES = sorted({t for (s, t) in EVENT_NAMES if s == "paypal"} | {"PAYMENT.SALE.COMPLETED"})


def ids(orders: list[SeededOrder]) -> st.SearchStrategy[Any]:
    legacy = [int(o.legacy_id) for o in orders]
    return st.one_of(st.sampled_from(legacy), st.sampled_from([str(x) for x in legacy]),
                     st.sampled_from([f"gid://shopify/Order/{x}" for x in legacy]), json_values)


@st.composite
def shopify_payload(draw: st.DrawFn, orders: list[SeededOrder]) -> Any:
    fields = {"id": ids(orders), "order_id": ids(orders), "order": st.fixed_dictionaries({}, optional={
        "id": ids(orders), "admin_graphql_api_id": odd_text}) | json_values,
        "name": odd_text, "status": st.sampled_from(["delivered", "requested", "in_transit"]) | odd_text,
        "happened_at": st.sampled_from(["2026-01-12T09:30:00Z", "2026-01-12T09:30:00", "yesterday"]),
        "fulfillment_id": ids(orders), "cancelled_at": odd_text}
    legacy = st.sampled_from([int(o.legacy_id) for o in orders])
    order = st.sampled_from(orders)
    address = order.map(lambda o: {"address1": o.address1, "phone": o.phone, "city": "Lyon", "country_code": "FR"})
    realistic = st.fixed_dictionaries({"id": legacy, "order_id": legacy}, optional={
        "order": st.fixed_dictionaries({"id": legacy}), "name": st.sampled_from([o.name for o in orders]),
        "status": fields["status"], "happened_at": fields["happened_at"], "fulfillment_id": st.integers(1, 10**12),
        # what an order webhook carries about the customer (Shopify's Order resource)
        "email": order.map(lambda o: o.email), "phone": order.map(lambda o: o.phone),
        "shipping_address": address, "customer": order.map(lambda o: {"email": o.email, "phone": o.phone})})
    return draw(st.one_of(realistic, realistic, st.fixed_dictionaries({}, optional=fields), json_values))


@st.composite
def shopify_webhook(draw: st.DrawFn, orders: list[SeededOrder], secret: str) -> FuzzRequest:
    raw = draw(body_of(shopify_payload(orders)))
    headers: list[tuple[bytes, bytes]] = []
    mode = draw(st.sampled_from(["valid"] * 12 + ["padded", "missing", "empty", "other-secret", "other-body",
                                                  "garbage"]))
    signatures = {"valid": sign_webhook(secret, raw), "padded": f" {sign_webhook(secret, raw)} ",
                  "empty": "", "other-secret": sign_webhook(secret + "x", raw),
                  "other-body": sign_webhook(secret, raw + b" ")}
    if mode == "garbage":
        headers.append((b"x-shopify-hmac-sha256", draw(header_text)))
    elif mode != "missing":
        headers.append((b"x-shopify-hmac-sha256", signatures[mode].encode()))
    if draw(st.sampled_from([True] * 9 + [False])):
        topic = draw(st.one_of(*[st.sampled_from(SHOPIFY_TOPICS).map(str.encode)] * 4, header_text))
        headers.append((b"x-shopify-topic", topic))
    id_mode = draw(st.sampled_from(["fresh", "fresh", "fresh", "again", "missing", "odd"]))
    if id_mode == "fresh":
        headers.append((b"x-shopify-webhook-id", str(draw(fresh_ids)).encode()))
    elif id_mode == "again":  # a redelivery, or another topic under a used id
        headers.append((b"x-shopify-webhook-id", draw(st.sampled_from(REUSED_IDS)).encode()))
    elif id_mode == "odd":
        headers.append((b"x-shopify-webhook-id", draw(header_text)))
    if draw(st.booleans()):
        headers.append((b"x-shopify-shop-domain", draw(st.just(b"maison-lumiere.myshopify.com") | header_text)))
    headers.append((b"content-type", draw(content_types)))
    headers += draw(extra_headers())
    return FuzzRequest("shopify", "POST", "/webhooks/shopify", raw, headers,
                       authentic=mode in ("valid", "padded"))


@st.composite
def stripe_event(draw: st.DrawFn) -> Any:
    obj = st.one_of(st.fixed_dictionaries({"id": st.just("du_") | odd_text | json_values},
                                          optional={"object": st.just("dispute"), "charge": odd_text,
                                                    "amount": st.integers(), "reason": odd_text}),
                    json_values)
    event = st.fixed_dictionaries(
        {"object": st.just("event"), "id": fresh_ids.map(lambda u: f"evt_{u.hex}") | odd_text,
         "type": st.sampled_from(STRIPE_TYPES) | odd_text},
        optional={"data": st.fixed_dictionaries({"object": obj}) | json_values, "created": st.integers(),
                  "livemode": st.booleans(), "api_version": odd_text},
    )
    realistic = st.fixed_dictionaries(
        {"object": st.just("event"), "id": fresh_ids.map(lambda u: f"evt_{u.hex}"),
         "type": st.sampled_from(STRIPE_TYPES),
         "data": st.fixed_dictionaries({"object": st.fixed_dictionaries(
             {"id": fresh_ids.map(lambda u: f"du_{u.hex[:24]}"), "object": st.just("dispute")},
             optional={"charge": st.just("ch_1"), "amount": st.integers(0, 10**6)})})})
    return draw(st.one_of(realistic, realistic, realistic, event, json_values))


@st.composite
def stripe_webhook(draw: st.DrawFn, secret: str) -> FuzzRequest:
    raw = draw(body_of(stripe_event()))
    now = int(time.time())
    mode = draw(st.sampled_from(["valid"] * 8 + ["rolled", "old", "future", "other-secret", "other-body", "missing",
                                                 "garbage", "v0-only", "two-t"]))
    header: bytes | None = None
    if mode == "valid":
        header = sign_payload(raw, secret, timestamp=now).encode()
    elif mode == "rolled":  # several v1 entries, one of them right (a secret roll)
        header = sign_payload(raw, secret + "-old", timestamp=now,
                              extra_signatures=[compute_signature(raw, secret, now)]).encode()
    elif mode in ("old", "future"):
        header = sign_payload(raw, secret, timestamp=now + (-1 if mode == "old" else 1) * 3600).encode()
    elif mode == "other-secret":
        header = sign_payload(raw, secret + "x", timestamp=now).encode()
    elif mode == "other-body":
        header = sign_payload(raw + b" ", secret, timestamp=now).encode()
    elif mode == "garbage":
        header = draw(header_text)
    elif mode == "v0-only":
        header = f"t={now},v0={compute_signature(raw, secret, now)}".encode()
    elif mode == "two-t":
        header = f"t={now},t={now},v1={compute_signature(raw, secret, now)}".encode()
    headers = [(b"stripe-signature", header)] if header is not None else []
    headers += [(b"content-type", draw(content_types)), *draw(extra_headers())]
    return FuzzRequest("stripe", "POST", "/webhooks/stripe", raw, headers, authentic=mode in ("valid", "rolled"))


@st.composite
def paypal_event(draw: st.DrawFn) -> Any:
    resource = st.one_of(st.fixed_dictionaries({}, optional={
        "dispute_id": st.sampled_from(["PP-D-12345", "PP-D-1"]) | odd_text, "id": odd_text,
        "status": odd_text, "reason": odd_text, "seller_response_due_date": odd_text,
        "dispute_outcome": json_values, "disputed_transactions": json_values}), json_values)
    event = st.fixed_dictionaries(
        {"id": fresh_ids.map(lambda u: f"WH-{u.hex}") | odd_text,
         "event_type": st.sampled_from(PAYPAL_TYPES) | json_values},
        optional={"resource": resource, "resource_type": st.just("dispute"), "create_time": odd_text,
                  "summary": odd_text})
    realistic = st.fixed_dictionaries(
        {"id": fresh_ids.map(lambda u: f"WH-{u.hex}"), "event_type": st.sampled_from(PAYPAL_TYPES),
         "resource_type": st.just("dispute"),
         "resource": st.fixed_dictionaries({"dispute_id": st.integers(1, 10**9).map(lambda n: f"PP-D-{n}")},
                                           optional={"status": st.just("OPEN"), "reason": st.just("OTHER")})})
    return draw(st.one_of(realistic, realistic, event, event, json_values))


@st.composite
def paypal_webhook(draw: st.DrawFn) -> FuzzRequest:
    raw = draw(body_of(paypal_event()))
    headers: list[tuple[bytes, bytes]] = []
    sig = draw(st.sampled_from(["present"] * 6 + ["missing", "empty"]))
    if sig != "missing":
        headers.append((b"paypal-transmission-sig", b"" if sig == "empty" else draw(header_text) or b"sig"))
    for name in (b"paypal-transmission-id", b"paypal-transmission-time", b"paypal-cert-url", b"paypal-auth-algo"):
        if draw(st.booleans()):
            headers.append((name, draw(header_text)))
    headers += [(b"content-type", draw(content_types)), *draw(extra_headers())]
    # The receiver verifies PayPal's RSA signature before storing (docs/privacy.md): no fuzzed
    # delivery carries one PayPal made, so every one is refused as unauthenticated.
    return FuzzRequest("paypal", "POST", "/webhooks/paypal", raw, headers, authentic=False)


# -- customers and the operator ------------------------------------------------------------------------


@st.composite
def json_request(draw: st.DrawFn, family: str, path: str, model_schema: dict[str, Any] | None,
                 orders: list[SeededOrder], token: str | None) -> FuzzRequest:
    raw = draw(request_body(model_schema, orders))
    headers: list[tuple[bytes, bytes]] = [(b"content-type", draw(content_types))]
    key_mode = draw(st.sampled_from(["none", "none", "fresh", "again", "odd"]))
    if key_mode == "fresh":
        headers.append((b"idempotency-key", draw(fresh_ids).hex.encode()))
    elif key_mode == "again":
        headers.append((b"idempotency-key", draw(st.sampled_from(REUSED_IDS)).encode()))
    elif key_mode == "odd":
        headers.append((b"idempotency-key", draw(header_text)))
    authentic: bool | None = None
    if token is not None:
        headers_, authentic = draw(operator_auth(token))
        headers += headers_
    headers += draw(extra_headers())
    return FuzzRequest(family, "POST", path, raw, headers, authentic=authentic)


@st.composite
def operator_auth(draw: st.DrawFn, token: str) -> tuple[list[tuple[bytes, bytes]], bool]:
    mode = draw(st.sampled_from(["right"] * 8 + ["bare", "none", "wrong", "prefix", "odd"]))
    value = {"right": f"Bearer {token}", "bare": token, "wrong": "Bearer wrong", "prefix": f"Bearer {token}x",
             "odd": None, "none": None}[mode]
    if mode == "odd":
        return [(b"authorization", draw(header_text))], False
    if value is None:
        return [], False
    return [(b"authorization", value.encode())], mode == "right"  # the bare token is refused (issue 13)


@st.composite
def operator_read(draw: st.DrawFn, path: str, token: str) -> FuzzRequest:
    headers, authentic = draw(operator_auth(token))
    params = {}
    if draw(st.booleans()):
        params["limit"] = draw(st.sampled_from(["0", "-5", "1", "500", "501", "99999999999999999999999", "abc",
                                                "", "1.5"]) | st.integers().map(str))
    return FuzzRequest("operator", "GET", path, b"", headers, params, authentic=authentic)


@st.composite
def stray_request(draw: st.DrawFn, paths: list[str]) -> FuzzRequest:
    """Unknown paths, wrong methods, the health check."""
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]))
    path = draw(st.sampled_from([*paths, "/", "/docs", "/openapi.json", "/webhooks/unknown", "/requests",
                                 "/operator", "/healthz/", "/%00", "/webhooks/shopify/../../operator/rejected"]))
    raw = draw(st.just(b"") | body_of(json_values))
    return FuzzRequest("stray", method, path, raw, draw(extra_headers()))
