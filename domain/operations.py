"""Operation kinds (issue 22): what an outside side effect is (`operation.kind` in the ledger,
promise 2), one enum with the strings the ledger already holds (no migration). The supplier and
dispute kinds name their channel or processor; build them with the functions below."""

from __future__ import annotations

from enum import StrEnum

from domain.disputes import Processor
from domain.policy import SupplierChannelKind


class OperationKind(StrEnum):
    # The store (Shopify Admin API)
    SHOPIFY_ORDER_CANCEL = "shopify.order_cancel"  # C3
    SHOPIFY_REFUND_CREATE = "shopify.refund_create"  # F2, F5
    SHOPIFY_RETURN_REQUEST = "shopify.return_request"  # R6
    SHOPIFY_RETURN_APPROVE = "shopify.return_approve"
    SHOPIFY_RETURN_DECLINE = "shopify.return_decline"
    SHOPIFY_RETURN_CLOSE = "shopify.return_close"
    SHOPIFY_RETURN_PROCESS = "shopify.return_process"
    SHOPIFY_REVERSE_DELIVERY = "shopify.reverse_delivery"  # R3: the customer's return tracking
    SHOPIFY_FULFILLMENT_HOLD = "shopify.fulfillment_hold"  # K6
    SHOPIFY_FULFILLMENT_RELEASE = "shopify.fulfillment_release"
    # Email (SMTP)
    EMAIL_CUSTOMER = "email.customer"  # M1-M5
    EMAIL_OPERATOR = "email.operator"
    # Suppliers, by channel (C3, R6)
    SUPPLIER_CANCEL_EMAIL = "supplier.cancel.email"
    SUPPLIER_CANCEL_CJ = "supplier.cancel.cj"
    SUPPLIER_RETURN_EMAIL = "supplier.return.email"
    SUPPLIER_RETURN_CJ = "supplier.return.cj"
    # Disputes, by processor (K3-K5)
    DISPUTE_STAGE_SHOPIFY_PAYMENTS = "dispute.stage.shopify_payments"
    DISPUTE_STAGE_STRIPE = "dispute.stage.stripe"
    DISPUTE_STAGE_PAYPAL = "dispute.stage.paypal"
    DISPUTE_SUBMIT_SHOPIFY_PAYMENTS = "dispute.submit.shopify_payments"
    DISPUTE_SUBMIT_STRIPE = "dispute.submit.stripe"
    DISPUTE_SUBMIT_PAYPAL = "dispute.submit.paypal"
    DISPUTE_ACCEPT_SHOPIFY_PAYMENTS = "dispute.accept.shopify_payments"
    DISPUTE_ACCEPT_STRIPE = "dispute.accept.stripe"
    DISPUTE_ACCEPT_PAYPAL = "dispute.accept.paypal"
    DISPUTE_MESSAGE_PAYPAL = "dispute.message.paypal"
    DISPUTE_OFFER_PAYPAL = "dispute.offer.paypal"
    # Carriers
    AFTERSHIP_TRACKING_CREATE = "aftership.tracking_create"  # issue 19


# Families read by prefix (ledger/operations.py, ledger/reports.py, flows/sweep.py).
EMAIL_KINDS = "email."
SUPPLIER_KINDS = "supplier."
DISPUTE_SUBMIT_KINDS = "dispute.submit"


def supplier_cancel(channel: SupplierChannelKind) -> OperationKind:
    return OperationKind(f"supplier.cancel.{channel}")


def supplier_return(channel: SupplierChannelKind) -> OperationKind:
    return OperationKind(f"supplier.return.{channel}")


def dispute_stage(processor: Processor) -> OperationKind:
    return OperationKind(f"dispute.stage.{processor}")


def dispute_submit(processor: Processor) -> OperationKind:
    return OperationKind(f"dispute.submit.{processor}")


def dispute_accept(processor: Processor) -> OperationKind:
    return OperationKind(f"dispute.accept.{processor}")
