"""The fake store's core state: housekeeping, seeding, fulfilment and the webhook outbox."""

from __future__ import annotations

import dataclasses
import itertools
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.shopify.models import (
    FakeCustomer,
    FakeFulfillment,
    FakeFulfillmentEvent,
    FakeFulfillmentOrder,
    FakeJob,
    FakeLineItem,
    FakeOrder,
    FakeShopConfig,
    FakeTracking,
    FakeTransaction,
    Fault,
    PendingWebhook,
    SeedAddress,
    SeedCard,
    SeedCustomer,
    SeedFulfillment,
    SeedFulfillmentEvent,
    SeedFulfillmentService,
    SeedLineItem,
    SeedOrder,
    _aware,
    _gid_tail,
    _IdempotentResult,
    _payment_id,
)
from sandbox.shopify.schema import FIRST_OBJECT_ID, ORDER_ID_BASE, Json, LeakyBucket
from sandbox.shopify.webhooks import rest_fulfillment, rest_order


class _StoreCore:
    """The store: orders, jobs, idempotency keys, faults, call log, webhook deliveries.

    All mutation happens on the server's event loop under `lock`; tests may read it from
    another thread (prefer `GET /_control/...`, which answers a consistent snapshot).
    """

    def __init__(
        self, config: FakeShopConfig | None = None, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.config = config or FakeShopConfig()
        self._initial_config = dataclasses.replace(self.config)
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.lock = threading.RLock()
        self.orders: dict[int, FakeOrder] = {}
        self.jobs: dict[str, FakeJob] = {}
        self.idempotency: dict[str, _IdempotentResult] = {}
        self.faults: list[Fault] = []
        self.calls: list[Json] = []
        self.deliveries: list[Json] = []
        self.restocked: dict[str, int] = {}  # sku -> units put back in stock
        self.outbox: list[PendingWebhook] = []
        self.bucket = LeakyBucket(self.config.bucket_size, self.config.restore_rate)
        self._ids: Iterator[int] = itertools.count(FIRST_OBJECT_ID)

    def reset(self, **changes: Any) -> None:
        """Back to the state the store started with, then apply config changes."""
        with self.lock:
            self.config = dataclasses.replace(self._initial_config)
            self.configure(**changes)
            self.orders.clear()
            self.jobs.clear()
            self.idempotency.clear()
            self.faults.clear()
            self.calls.clear()
            self.deliveries.clear()
            self.restocked.clear()
            self.outbox.clear()
            self.bucket = LeakyBucket(self.config.bucket_size, self.config.restore_rate)
            self._ids = itertools.count(FIRST_OBJECT_ID)

    def configure(self, **changes: Any) -> None:
        with self.lock:
            for key, value in changes.items():
                if not hasattr(self.config, key):
                    raise ValueError(f"unknown fake Shopify setting: {key}")
                setattr(self.config, key, value)
            if {"bucket_size", "restore_rate"} & changes.keys():
                self.bucket = LeakyBucket(self.config.bucket_size, self.config.restore_rate)

    def next_id(self) -> int:
        return next(self._ids)

    def order(self, legacy_id: int) -> FakeOrder | None:
        return self.orders.get(legacy_id)

    def order_by_gid(self, gid: Any) -> FakeOrder | None:
        legacy = _gid_tail(gid, "Order")
        return None if legacy is None else self.orders.get(legacy)

    def order_by_fulfillment_order(self, gid: Any) -> FakeOrder | None:
        fo_id = _gid_tail(gid, "FulfillmentOrder")
        return next((o for o in self.orders.values() if o.fulfillment_order.id == fo_id), None)

    def take_outbox(self) -> list[PendingWebhook]:
        with self.lock:
            pending, self.outbox = self.outbox, []
        return pending

    def queue_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def pop_fault(self, root_fields: Sequence[str]) -> Fault | None:
        """The first queued fault for one of these root fields, consumed once."""
        for fault in self.faults:
            if fault.field in root_fields and fault.remaining > 0:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def emit(self, topic: str, order: FakeOrder, payload: Json | None = None) -> PendingWebhook:
        """Queue a webhook for delivery after the current request (1.9)."""
        event = PendingWebhook(
            topic=topic,
            order_id=order.id,
            payload=payload if payload is not None else rest_order(order),
            event_id=str(uuid.uuid4()),
            triggered_at=self.clock(),
        )
        self.outbox.append(event)
        return event

    def add_order(self, seed: SeedOrder) -> FakeOrder:
        """Create an order from the simplified seed JSON (paid, optionally shipped)."""
        with self.lock:
            order_id = seed.id or ORDER_ID_BASE + seed.number
            if order_id in self.orders or any(o.number == seed.number for o in self.orders.values()):
                raise ValueError(f"order #{seed.number} already exists")
            created = self._placed_at(seed)
            order = FakeOrder(
                id=order_id,
                number=seed.number,
                email=seed.email or (seed.customer.email if seed.customer else None),
                currency=seed.currency.upper(),
                created_at=created,
                updated_at=created,
                customer=self._customer(seed.customer, created),
                tags=list(seed.tags),
                gateway=seed.gateway,
                shipping_price=seed.shipping_price,
                shipping_address=self._address(seed.shipping_address, seed.customer),
                billing_address=self._address(seed.billing_address or seed.shipping_address, seed.customer),
                note=seed.note,
                test=seed.test,
                line_items=[self._line_item(item) for item in seed.line_items],
                fulfillment_order=self._fulfillment_order(seed.fulfillment_service, created),
                client_ip=seed.client_ip,
                risk_level=seed.risk_level,
                card=seed.card or (SeedCard() if seed.gateway == "shopify_payments" else None),
                visit_source=seed.visit_source,
                name_format=seed.name_format,
            )
            if seed.paid:
                number = self.next_id()
                order.transactions.append(
                    FakeTransaction(
                        number, "SALE", "SUCCESS", seed.gateway, order.total_price, created,
                        payment_id=seed.payment_id or _payment_id(seed.gateway, number),
                    )
                )
            self.orders[order.id] = order
            if seed.fulfillment is not None:
                self.fulfill(order, seed.fulfillment, notify=False)
            return order

    def _placed_at(self, seed: SeedOrder) -> datetime:
        if seed.created_at is not None:
            placed = _aware(seed.created_at)
            assert placed is not None
            return placed
        return self.clock() - timedelta(hours=seed.placed_hours_ago or 0)

    def _customer(self, seed: SeedCustomer | None, created: datetime) -> FakeCustomer | None:
        if seed is None:
            return None
        return FakeCustomer(
            id=self.next_id(),
            first_name=seed.first_name,
            last_name=seed.last_name,
            email=seed.email,
            locale=seed.locale,
            phone=seed.phone,
            orders_count=seed.orders_count,
            created_at=created,
        )

    @staticmethod
    def _address(address: SeedAddress | None, customer: SeedCustomer | None) -> SeedAddress | None:
        if address is None or customer is None:
            return address
        return address.model_copy(
            update={
                "first_name": address.first_name or customer.first_name,
                "last_name": address.last_name or customer.last_name,
            }
        )

    def _line_item(self, seed: SeedLineItem) -> FakeLineItem:
        return FakeLineItem(
            id=self.next_id(),
            fulfillment_order_line_id=self.next_id(),
            product_id=self.next_id(),
            title=seed.title,
            variant_title=seed.variant_title,
            sku=seed.sku,
            vendor=seed.vendor,
            product_type=seed.product_type,
            price=seed.price,
            quantity=seed.quantity,
        )

    def _fulfillment_order(
        self, service: SeedFulfillmentService | None, created: datetime
    ) -> FakeFulfillmentOrder:
        if service is None:
            return FakeFulfillmentOrder(
                self.next_id(),
                self.config.location_id,
                self.config.location_name,
                "OPEN",
                "UNSUBMITTED",
                created,
            )
        return FakeFulfillmentOrder(
            self.next_id(),
            self.next_id(),
            service.location_name,
            service.status,
            service.request_status,
            created,
        )

    def fulfill(self, order: FakeOrder, request: SeedFulfillment, *, notify: bool) -> FakeFulfillment:
        """Ship units (default: every unfulfilled unit) with tracking; webhooks when `notify`."""
        with self.lock:
            if order.cancelled_at is not None:
                raise ValueError(f"order {order.name} is cancelled")
            if order.fulfillment_order.holds:
                raise ValueError(f"order {order.name} is on hold: release the fulfillment hold first")
            quantities = self._fulfil_quantities(order, request.line_items)
            now = self.clock()
            shipped = _aware(request.shipped_at) or (
                now - timedelta(hours=request.shipped_hours_ago)
                if request.shipped_hours_ago is not None
                else now
            )
            delivered = _aware(request.delivered_at) or (
                now - timedelta(hours=request.delivered_hours_ago)
                if request.delivered_hours_ago is not None
                else None
            )
            fulfillment = FakeFulfillment(
                id=self.next_id(),
                sequence=len(order.fulfillments) + 1,
                created_at=shipped,
                updated_at=delivered or shipped,
                display_status=request.display_status or ("DELIVERED" if delivered else "IN_TRANSIT"),
                tracking=[
                    FakeTracking(request.tracking_company, request.tracking_number, request.tracking_url)
                ]
                if request.tracking_number or request.tracking_company
                else [],
                lines={li.id: qty for li, qty in quantities},
                line_ids={li.id: self.next_id() for li, _ in quantities},
                location_id=order.fulfillment_order.location_id,
                in_transit_at=shipped,
                delivered_at=delivered,
                estimated_delivery_at=_aware(request.estimated_delivery_at),
            )
            for event in request.events:
                self._add_event(fulfillment, event, now)
            for li, qty in quantities:
                li.fulfilled += qty
            order.fulfillments.append(fulfillment)
            order.updated_at = now
            if notify:
                self.emit("fulfillments/create", order, rest_fulfillment(order, fulfillment))
                self.emit("orders/updated", order)
            return fulfillment

    @staticmethod
    def _fulfil_quantities(
        order: FakeOrder, wanted: Mapping[str, int] | None
    ) -> list[tuple[FakeLineItem, int]]:
        if wanted is None:
            picked = [(li, li.unfulfilled) for li in order.line_items if li.unfulfilled > 0]
        else:
            picked = []
            for key, qty in wanted.items():
                line = order.line(key) or next((li for li in order.line_items if li.sku == key), None)
                if line is None:
                    raise ValueError(f"no line item {key!r} on {order.name}")
                if not 0 < qty <= line.unfulfilled:
                    raise ValueError(f"cannot fulfil {qty} of {key!r}: {line.unfulfilled} unfulfilled")
                picked.append((line, qty))
        if not picked:
            raise ValueError(f"nothing left to fulfil on {order.name}")
        return picked

    def _add_event(self, fulfillment: FakeFulfillment, event: SeedFulfillmentEvent, now: datetime) -> None:
        happened = _aware(event.happened_at) or (now - timedelta(hours=event.hours_ago)
                                                 if event.hours_ago is not None else now)
        fulfillment.events.append(FakeFulfillmentEvent(
            id=self.next_id(), status=event.status, happened_at=happened, created_at=now, city=event.city,
            province=event.province, country=event.country, message=event.message))

    def add_fulfillment_event(self, order: FakeOrder, event: SeedFulfillmentEvent) -> FakeFulfillment:
        """A carrier event on the latest parcel (what `fulfillmentEventCreate` records)."""
        with self.lock:
            if not order.fulfillments:
                raise ValueError(f"order {order.name} has no fulfillment")
            fulfillment = order.fulfillments[-1]
            self._add_event(fulfillment, event, self.clock())
            return fulfillment

    def deliver(self, order: FakeOrder, *, notify: bool) -> FakeFulfillment:
        """Mark the latest parcel delivered (`Fulfillment.deliveredAt`), `fulfillments/update`,
        with the carrier's DELIVERED event in the shipping address's city (`FulfillmentEvent`)."""
        with self.lock:
            if not order.fulfillments:
                raise ValueError(f"order {order.name} has no fulfillment")
            fulfillment = order.fulfillments[-1]
            now = self.clock()
            fulfillment.delivered_at = now
            fulfillment.display_status = "DELIVERED"
            fulfillment.updated_at = now
            where = order.shipping_address
            self._add_event(fulfillment, SeedFulfillmentEvent(
                status="DELIVERED", city=where.city if where else None,
                country=where.country_code if where else None, message="Delivered"), now)
            order.updated_at = now
            if notify:
                self.emit("fulfillments/update", order, rest_fulfillment(order, fulfillment))
            return fulfillment
