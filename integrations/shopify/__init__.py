"""Shopify Admin GraphQL integration: the client (a transport core and its resource groups in
`services/`), documents, mapping, returns, disputes, webhook signatures.

See INTEGRATIONS.md section 1 for the contract and STYLE.md "Errors" for the retry rules.
"""

from integrations.shopify.client import RefundLine, RefundResult, RefundTransaction, ShopifyClient
from integrations.shopify.disputes import (
    OrderFraudEvidence,
    ShopifyDispute,
    ShopifyDisputeEvidence,
    ShopifyDisputeReason,
    ShopifyDisputeStatus,
    ShopifyDisputeType,
    dispute_evidence_input,
    dispute_from_webhook,
)
from integrations.shopify.documents import ALL_DOCUMENTS
from integrations.shopify.mapping import (
    legacy_id,
    order_from_graphql,
    order_gid,
    suggested_refund_from_graphql,
)
from integrations.shopify.returns import (
    DispositionType,
    ReturnableItem,
    ReturnDeclineReason,
    ReturnRequestItem,
    ReturnStatus,
    ReverseDelivery,
    ReverseFulfillmentOrder,
    RFOLine,
    ShopifyReturn,
    ShopifyReturnLine,
    ShopifyReturnReason,
    our_reason,
    return_from_webhook,
    shopify_reason,
)
from integrations.shopify.settings import ShopifySettings
from integrations.shopify.webhooks import WEBHOOK_TOPICS, sign_webhook, verify_webhook

__all__ = [
    "ALL_DOCUMENTS",
    "WEBHOOK_TOPICS",
    "DispositionType",
    "OrderFraudEvidence",
    "RFOLine",
    "RefundLine",
    "RefundResult",
    "RefundTransaction",
    "ReturnDeclineReason",
    "ReturnRequestItem",
    "ReturnStatus",
    "ReturnableItem",
    "ReverseDelivery",
    "ReverseFulfillmentOrder",
    "ShopifyClient",
    "ShopifyDispute",
    "ShopifyDisputeEvidence",
    "ShopifyDisputeReason",
    "ShopifyDisputeStatus",
    "ShopifyDisputeType",
    "ShopifyReturn",
    "ShopifyReturnLine",
    "ShopifyReturnReason",
    "ShopifySettings",
    "dispute_evidence_input",
    "dispute_from_webhook",
    "legacy_id",
    "order_from_graphql",
    "order_gid",
    "our_reason",
    "return_from_webhook",
    "shopify_reason",
    "sign_webhook",
    "suggested_refund_from_graphql",
    "verify_webhook",
]
