"""Fake carrier tracking APIs: La Poste Suivi v2, DHL Shipment Tracking - Unified and AfterShip
Tracking (2025-01), on one server (issue 19). The sandbox's carriers and the tests' stand-in.

Written from the carriers' published contracts (see integrations/carriers/*.py for each), not
from the product's clients: requests are validated as the real APIs do (the key header, the
number's format, the query parameters) and answered in each carrier's own shape and error
envelope.

* La Poste:  `GET /laposte/suivi/v2/idships/{idShip}?lang=fr_FR`, `X-Okapi-Key`
* DHL:       `GET /dhl/track/shipments?trackingNumber=`, `DHL-API-Key` (a daily quota, 429 past it)
* AfterShip: `/aftership/tracking/2025-01`: `POST /trackings`, `GET /trackings?tracking_numbers=`,
  `POST /couriers/detect`, `as-api-key`; webhooks signed `aftership-hmac-sha256` (base64 HMAC-SHA256)

Run it: `python -m sandbox.carriers_fake --port 8085`, or `start_fake_carriers(port=0)`.
Control API (not the carriers', under `/_control`):

* `POST /_control/parcels` `{carrier: laposte|dhl|aftership, number, slug?, events: [{code, at,
  label?, city?, postcode?, country?}]}` a parcel and its events (the carrier's own codes: DI1,
  delivered, Delivered_001...); `POST /_control/parcels/{carrier}/{number}/events` one more event
* `POST /_control/faults` `{carrier, kind: rate_limited|http_500|malformed, count, retry_after?}`
  (`retry_after`: the 429's Retry-After, seconds or an HTTP-date; 2 by default)
* `POST /_control/aftership/push` `{number}`: AfterShip sends its `tracking_update` webhook, signed
* `GET /_control/calls` every API call with its carrier, path, query and status; `POST /_control/reset`
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sandbox.serving import RunningApp, serve_in_thread

LAPOSTE_PREFIX = "/laposte/suivi/v2"
DHL_PREFIX = "/dhl"
AFTERSHIP_PREFIX = "/aftership/tracking/2025-01"
DEFAULT_KEYS = {"laposte": "sandbox-okapi-key", "dhl": "sandbox-dhl-key", "aftership": "asat_sandbox_key"}
DEFAULT_WEBHOOK_SECRET = "sandbox-aftership-secret"  # noqa: S105 (the sandbox's public value)
_IDSHIP = re.compile(r"^[A-Za-z0-9]{11,15}$")

# La Poste's labels for its codes (what the fake writes in `label` when the seed gives none).
LAPOSTE_LABELS = {
    "DR1": "Votre colis a été déposé par l'expéditeur. Il n'a pas encore été pris en charge par La Poste.",
    "PC1": "Votre colis a été pris en charge par La Poste.",
    "ET1": "Votre colis est en cours d'acheminement.",
    "MD2": "Votre colis est en cours de livraison.",
    "AG1": "Votre colis est disponible dans votre point de retrait.",
    "ND1": "Votre colis ne peut pas être distribué.",
    "RE1": "Votre colis est retourné à l'expéditeur.",
    "DI1": "Votre colis est livré.",
    "DI2": "Votre colis a été livré à l'expéditeur.",
}
AFTERSHIP_TAG = re.compile(r"^([A-Za-z]+)(?:_\d{3})?$")


@dataclass
class Parcel:
    carrier: str
    number: str
    slug: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)  # oldest first, as seeded
    followed: bool = False  # AfterShip: created with POST /trackings


@dataclass
class FakeCarriersState:
    api_keys: dict[str, str]
    webhook_secret: str = DEFAULT_WEBHOOK_SECRET
    webhook_url: str | None = None
    dhl_daily_quota: int = 250
    parcels: dict[tuple[str, str], Parcel] = field(default_factory=dict)
    faults: dict[str, list[str]] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)
    dhl_calls_today: int = 0
    retry_after: str = "2"  # what an injected 429 says in Retry-After (seconds or an HTTP-date)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fault(self, carrier: str) -> str | None:
        with self.lock:
            queue = self.faults.get(carrier) or []
            return queue.pop(0) if queue else None


def _iso(at: str) -> str:
    return datetime.fromisoformat(at.replace("Z", "+00:00")).isoformat()


def laposte_body(parcel: Parcel) -> dict[str, Any]:
    events = [{"code": e["code"], "label": e.get("label") or LAPOSTE_LABELS.get(e["code"], e["code"]),
               "date": _iso(e["at"])} for e in reversed(parcel.events)]  # newest first, as La Poste
    delivered = next((e for e in parcel.events if e["code"] in ("DI1", "DI2")), None)
    shipment: dict[str, Any] = {
        "idShip": parcel.number, "holder": 4, "product": "colissimo",
        "isFinal": delivered is not None,
        "entryDate": _iso(parcel.events[0]["at"]) if parcel.events else None,
        "event": events,
        "timeline": [{"id": 1, "shortLabel": "Votre colis est pris en charge", "status": bool(parcel.events),
                      "type": 1, "country": "FR"},
                     {"id": 5, "shortLabel": "Votre colis est livré", "status": delivered is not None, "type": 1,
                      "country": "FR"}],
        "contextData": {"deliveryChoice": {}, "originCountry": "FR", "arrivalCountry": "FR"},
        "url": f"https://www.laposte.fr/outils/suivre-vos-envois?code={parcel.number}",
    }
    if delivered:
        shipment["deliveryDate"] = _iso(delivered["at"])
    return {"lang": "fr_FR", "scope": "open", "returnCode": 200, "shipment": shipment}


def dhl_body(parcel: Parcel) -> dict[str, Any]:
    def one(e: dict[str, Any]) -> dict[str, Any]:
        return {"timestamp": _iso(e["at"]),
                "location": {"address": {"countryCode": e.get("country") or "DE", "postalCode": e.get("postcode"),
                                         "addressLocality": e.get("city")}},
                "statusCode": e["code"], "status": e["code"].upper(), "description": e.get("label") or e["code"]}
    events = [one(e) for e in reversed(parcel.events)]  # newest first
    return {"shipments": [{"id": parcel.number, "service": "express",
                           "status": events[0] if events else {"statusCode": "unknown", "status": "UNKNOWN"},
                           "events": events}]}


def aftership_tracking(parcel: Parcel) -> dict[str, Any]:
    checkpoints = []
    for e in parcel.events:
        m = AFTERSHIP_TAG.match(e["code"])
        tag = m.group(1) if m else e["code"]
        checkpoints.append({"checkpoint_time": _iso(e["at"]), "city": e.get("city"), "zip": e.get("postcode"),
                            "country_region": e.get("country"), "location": e.get("city"),
                            "message": e.get("label") or e["code"], "tag": tag,
                            "subtag": e["code"] if "_" in e["code"] else f"{tag}_001", "slug": parcel.slug})
    last = checkpoints[-1] if checkpoints else {"tag": "Pending", "subtag": "Pending_001"}
    return {"id": hashlib.md5(parcel.number.encode()).hexdigest()[:24], "tracking_number": parcel.number,  # noqa: S324
            "slug": parcel.slug or "yunexpress", "tag": last["tag"], "subtag": last["subtag"],
            "checkpoints": checkpoints}


def _meta(code: int, message: str, kind: str) -> dict[str, Any]:
    return {"meta": {"code": code, "message": message, "type": kind}}


def create_app(state: FakeCarriersState) -> FastAPI:
    app = FastAPI(title="fake carriers")

    def log(carrier: str, request: Request, status: int) -> None:
        with state.lock:
            state.calls.append({"carrier": carrier, "method": request.method, "path": request.url.path,
                                "query": dict(request.query_params), "status": status})

    def injected(carrier: str, request: Request) -> JSONResponse | None:
        kind = state.fault(carrier)
        if kind is None:
            return None
        if kind == "rate_limited":
            body: Any = (_meta(429, "You have exceeded the API call rate limit.", "TooManyRequests")
                         if carrier == "aftership" else
                         {"returnCode": 429, "returnMessage": "Too many requests"} if carrier == "laposte" else
                         {"title": "Too many requests", "status": 429,
                          "detail": "Too many requests within defined time period"})
            response = JSONResponse(body, status_code=429, headers={"Retry-After": state.retry_after})
        elif kind == "http_500":
            response = JSONResponse({"error": "internal"}, status_code=500)
        else:  # malformed: a 200 the contract does not describe
            response = JSONResponse({"unexpected": True}, status_code=200)
        log(carrier, request, response.status_code)
        return response

    # -- La Poste Suivi v2 ------------------------------------------------------------------------
    @app.get(LAPOSTE_PREFIX + "/idships/{idship}")
    async def laposte(idship: str, request: Request) -> JSONResponse:
        if request.headers.get("x-okapi-key") != state.api_keys["laposte"]:
            log("laposte", request, 401)
            return JSONResponse({"code": "UNAUTHORIZED", "message": "INVALID_KEY"}, status_code=401)
        if (fault := injected("laposte", request)) is not None:
            return fault
        lang = request.query_params.get("lang", "fr_FR")
        ids = idship.split(",")
        if lang not in ("fr_FR", "en_GB", "de_DE", "es_ES", "it_IT", "nl_NL") or len(ids) != 1 \
                or not _IDSHIP.match(ids[0]):
            log("laposte", request, 400)
            return JSONResponse({"returnCode": 400, "returnMessage": "Numéro invalide", "lang": lang,
                                 "idShip": idship}, status_code=400)
        parcel = state.parcels.get(("laposte", idship.upper()))
        if parcel is None:
            log("laposte", request, 404)
            return JSONResponse({"returnCode": 404, "returnMessage": "Résultat non trouvé", "lang": lang,
                                 "idShip": idship}, status_code=404)
        log("laposte", request, 200)
        return JSONResponse(laposte_body(parcel))

    # -- DHL Unified ----------------------------------------------------------------------------
    @app.get(DHL_PREFIX + "/track/shipments")
    async def dhl(request: Request) -> JSONResponse:
        if request.headers.get("dhl-api-key") != state.api_keys["dhl"]:
            log("dhl", request, 401)
            return JSONResponse({"status": 401, "title": "Unauthorized", "detail": "Unauthorized database request"},
                                status_code=401, media_type="application/problem+json")
        with state.lock:
            state.dhl_calls_today += 1
            over = state.dhl_calls_today > state.dhl_daily_quota
        if over:
            log("dhl", request, 429)
            return JSONResponse({"status": 429, "title": "Too many requests",
                                 "detail": "Too many requests within defined time period"}, status_code=429,
                                media_type="application/problem+json", headers={"Retry-After": "3600"})
        if (fault := injected("dhl", request)) is not None:
            return fault
        number = request.query_params.get("trackingNumber")
        if not number:
            log("dhl", request, 400)
            return JSONResponse({"status": 400, "title": "Bad request",
                                 "detail": "trackingNumber is a required parameter"}, status_code=400,
                                media_type="application/problem+json")
        parcel = state.parcels.get(("dhl", number.upper()))
        if parcel is None:
            log("dhl", request, 404)
            return JSONResponse({"type": "https://api.dhl.com/problem/404", "title": "No result found",
                                 "status": 404, "detail": "No shipment with given tracking number found."},
                                status_code=404, media_type="application/problem+json")
        log("dhl", request, 200)
        return JSONResponse(dhl_body(parcel))

    # -- AfterShip ------------------------------------------------------------------------------
    def aftership_auth(request: Request) -> JSONResponse | None:
        if request.headers.get("as-api-key") != state.api_keys["aftership"]:
            log("aftership", request, 401)
            return JSONResponse(_meta(401, "Invalid API key.", "Unauthorized"), status_code=401)
        return injected("aftership", request)

    @app.post(AFTERSHIP_PREFIX + "/trackings")
    async def aftership_create(request: Request) -> JSONResponse:
        if (refused := aftership_auth(request)) is not None:
            return refused
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        number = body.get("tracking_number") if isinstance(body, dict) else None
        if not isinstance(number, str) or not number.strip():
            log("aftership", request, 400)
            return JSONResponse(_meta(4010, "The value of `tracking_number` is invalid.", "BadRequest"),
                                status_code=400)
        key = ("aftership", number.upper())
        with state.lock:
            parcel = state.parcels.setdefault(key, Parcel("aftership", number.upper(), slug=body.get("slug")))
            existed, parcel.followed = parcel.followed, True
        if existed:
            log("aftership", request, 400)
            return JSONResponse({**_meta(4003, "Tracking already exists.", "BadRequest"),
                                 "data": {"tracking": {"id": aftership_tracking(parcel)["id"],
                                                       "tracking_number": number}}}, status_code=400)
        log("aftership", request, 201)
        return JSONResponse({**_meta(201, "Created", "Created"), "data": aftership_tracking(parcel)}, status_code=201)

    @app.get(AFTERSHIP_PREFIX + "/trackings")
    async def aftership_list(request: Request) -> JSONResponse:
        if (refused := aftership_auth(request)) is not None:
            return refused
        wanted = {n.strip().upper() for n in request.query_params.get("tracking_numbers", "").split(",") if n.strip()}
        found = [aftership_tracking(p) for (c, n), p in state.parcels.items()
                 if c == "aftership" and p.followed and (not wanted or n in wanted)]
        log("aftership", request, 200)
        return JSONResponse({**_meta(200, "OK", "OK"),
                             "data": {"pagination": {"total": len(found), "next_cursor": None, "has_next_page": False},
                                      "trackings": found}})

    @app.post(AFTERSHIP_PREFIX + "/couriers/detect")
    async def aftership_detect(request: Request) -> JSONResponse:
        if (refused := aftership_auth(request)) is not None:
            return refused
        body = json.loads(await request.body() or b"{}")
        number = str(body.get("tracking_number") or "").upper()
        parcel = state.parcels.get(("aftership", number))
        couriers = [{"slug": parcel.slug or "yunexpress", "name": parcel.slug or "YunExpress"}] if parcel else []
        log("aftership", request, 200)
        return JSONResponse({**_meta(200, "OK", "OK"), "data": {"total": len(couriers), "couriers": couriers}})

    # -- control ----------------------------------------------------------------------------------
    @app.post("/_control/reset")
    async def reset(request: Request) -> dict[str, Any]:
        body = json.loads(await request.body() or b"{}")
        with state.lock:
            state.parcels.clear()
            state.faults.clear()
            state.calls.clear()
            state.dhl_calls_today = 0
            state.retry_after = "2"
            state.dhl_daily_quota = int(body.get("dhl_daily_quota", state.dhl_daily_quota))
        return {"ok": True}

    @app.post("/_control/parcels")
    async def seed(request: Request) -> dict[str, Any]:
        body = json.loads(await request.body())
        carrier, number = body["carrier"], str(body["number"]).upper()
        with state.lock:
            state.parcels[(carrier, number)] = Parcel(carrier, number, slug=body.get("slug"),
                                                      events=list(body.get("events", [])),
                                                      followed=bool(body.get("followed", False)))
        return {"ok": True}

    @app.post("/_control/parcels/{carrier}/{number}/events")
    async def add_event(carrier: str, number: str, request: Request) -> dict[str, Any]:
        event = json.loads(await request.body())
        with state.lock:
            state.parcels[(carrier, number.upper())].events.append(event)
        return {"ok": True}

    @app.post("/_control/faults")
    async def faults(request: Request) -> dict[str, Any]:
        body = json.loads(await request.body())
        with state.lock:
            state.faults.setdefault(body["carrier"], []).extend([body["kind"]] * int(body.get("count", 1)))
            if body.get("retry_after") is not None:
                state.retry_after = str(body["retry_after"])
        return {"ok": True}

    @app.get("/_control/calls")
    async def calls() -> list[dict[str, Any]]:
        with state.lock:
            return list(state.calls)

    @app.post("/_control/aftership/push")
    async def push(request: Request) -> dict[str, Any]:
        body = json.loads(await request.body())
        parcel = state.parcels[("aftership", str(body["number"]).upper())]
        payload = {"event": "tracking_update", "event_id": str(uuid.uuid4()), "is_tracking_first_tag": True,
                   "msg": aftership_tracking(parcel), "ts": int(time.time())}
        raw = json.dumps(payload).encode()
        signature = base64.b64encode(hmac.new(state.webhook_secret.encode(), raw, hashlib.sha256).digest()).decode()
        url = str(body.get("webhook_url") or state.webhook_url or "")
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.post(url, content=raw, headers={"Content-Type": "application/json",
                                                                "aftership-hmac-sha256": signature,
                                                                "as-webhook-version": "2025-01"})
        return {"status": answer.status_code, "body": answer.text, "event_id": payload["event_id"]}

    return app


@dataclass
class RunningFakeCarriers(RunningApp):
    state: FakeCarriersState = field(kw_only=True)

    @property
    def laposte_url(self) -> str:
        """What AFTERSALES_LAPOSTE_BASE_URL should be."""
        return self.root_url + LAPOSTE_PREFIX

    @property
    def dhl_url(self) -> str:
        return self.root_url + DHL_PREFIX

    @property
    def aftership_url(self) -> str:
        return self.root_url + AFTERSHIP_PREFIX


def start_fake_carriers(port: int = 0, *, host: str = "127.0.0.1", api_keys: dict[str, str] | None = None,
                        webhook_url: str | None = None, webhook_secret: str = DEFAULT_WEBHOOK_SECRET,
                        dhl_daily_quota: int = 250) -> RunningFakeCarriers:
    state = FakeCarriersState({**DEFAULT_KEYS, **(api_keys or {})}, webhook_secret=webhook_secret,
                              webhook_url=webhook_url, dhl_daily_quota=dhl_daily_quota)
    served = serve_in_thread(create_app(state), host, port, "fake-carriers", "the fake carriers server")
    return RunningFakeCarriers(*served, state=state)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake carrier tracking APIs (sandbox)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8085)
    parser.add_argument("--webhook-url", default="http://127.0.0.1:8000/webhooks/aftership")
    args = parser.parse_args(argv)
    running = start_fake_carriers(args.port, host=args.host, webhook_url=args.webhook_url)
    print(f"fake carriers {running.root_url} (started {datetime.now(UTC):%H:%M:%S})", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
