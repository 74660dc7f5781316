"""Every GraphQL document the Shopify client sends (INTEGRATIONS.md 1.4, 1.5, 1.7).

Built from the validated examples of INTEGRATIONS.md. `tests/integration/test_shopify_documents.py`
validates each entry of `ALL_DOCUMENTS` against the Admin API 2026-01 SDL, so a version bump
that breaks one fails CI instead of production. Page sizes keep every query's requested cost
well under Shopify's single-query limit of 1000 points (1.2): an order read costs about 600.
A dropshipping order rarely has more than a handful of lines; one with more than the 25 line
items read here is refused by the mapping rather than handled half-read.
"""

from __future__ import annotations

_MONEY = "presentmentMoney { amount currencyCode }"

_ADDRESS = "firstName lastName address1 address2 city zip provinceCode countryCodeV2 phone"

# Everything `domain.orders.Order` needs, shared by the by-id and by-name queries (1.7).
ORDER_FRAGMENT = f"""
fragment AfterSalesOrder on Order {{
  id
  legacyResourceId
  name
  email
  createdAt
  processedAt
  cancelledAt
  cancelReason
  closed
  test
  tags
  customerLocale
  presentmentCurrencyCode
  displayFinancialStatus
  displayFulfillmentStatus
  paymentGatewayNames
  customer {{
    id
    firstName
    lastName
    locale
    numberOfOrders
    defaultEmailAddress {{ emailAddress }}
  }}
  totalPriceSet {{ {_MONEY} }}
  totalReceivedSet {{ {_MONEY} }}
  totalRefundedSet {{ {_MONEY} }}
  shippingAddress {{ {_ADDRESS} }}
  billingAddress {{ {_ADDRESS} }}
  lineItems(first: 25) {{
    pageInfo {{ hasNextPage }}
    nodes {{
      id
      title
      variantTitle
      sku
      vendor
      product {{ id productType }}
      quantity
      currentQuantity
      unfulfilledQuantity
      refundableQuantity
      discountedUnitPriceAfterAllDiscountsSet {{ {_MONEY} }}
    }}
  }}
  fulfillments(first: 5) {{
    id
    status
    displayStatus
    createdAt
    inTransitAt
    deliveredAt
    estimatedDeliveryAt
    trackingInfo(first: 3) {{ company number url }}
    fulfillmentLineItems(first: 15) {{ nodes {{ quantity lineItem {{ id }} }} }}
  }}
  fulfillmentOrders(first: 4) {{
    nodes {{
      id
      status
      requestStatus
      assignedLocation {{ name }}
      lineItems(first: 15) {{ nodes {{ remainingQuantity lineItem {{ id }} }} }}
    }}
  }}
  transactions(first: 20) {{
    id
    kind
    status
    gateway
    processedAt
    parentTransaction {{ id }}
    amountSet {{ {_MONEY} }}
    maximumRefundableV2 {{ amount currencyCode }}
  }}
  refunds(first: 10) {{
    id
    createdAt
    note
    totalRefundedSet {{ {_MONEY} }}
  }}
  suggestedRefund(suggestFullRefund: true, refundShipping: true) {{
    amountSet {{ {_MONEY} }}
    suggestedTransactions {{
      parentTransaction {{ id }}
      gateway
      kind
      amountSet {{ {_MONEY} }}
    }}
  }}
}}
"""

ORDER_QUERY = (
    """
query OrderForAfterSales($id: ID!) {
  order(id: $id) { ...AfterSalesOrder }
}
"""
    + ORDER_FRAGMENT
)

# `query` is Shopify search syntax, e.g. "name:#1001" (the client builds it).
ORDER_BY_NAME_QUERY = (
    """
query OrderByName($query: String!) {
  orders(first: 1, query: $query) { nodes { ...AfterSalesOrder } }
}
"""
    + ORDER_FRAGMENT
)

# 1.4: not idempotent, answers with a Job; the eligibility errors come in orderCancelUserErrors.
ORDER_CANCEL_MUTATION = """
mutation OrderCancel(
  $orderId: ID!
  $reason: OrderCancelReason!
  $restock: Boolean!
  $refundMethod: OrderCancelRefundMethodInput
  $notifyCustomer: Boolean
  $staffNote: String
) {
  orderCancel(
    orderId: $orderId
    reason: $reason
    restock: $restock
    refundMethod: $refundMethod
    notifyCustomer: $notifyCustomer
    staffNote: $staffNote
  ) {
    job { id done }
    orderCancelUserErrors { field message code }
  }
}
"""

JOB_QUERY = """
query JobStatus($id: ID!) {
  job(id: $id) { id done }
}
"""

# 1.5: the idempotency key is a variable so every retry resends the same key (STYLE.md).
REFUND_CREATE_MUTATION = f"""
mutation RefundCreate($input: RefundInput!, $idempotencyKey: String!) {{
  refundCreate(input: $input) @idempotent(key: $idempotencyKey) {{
    refund {{
      id
      createdAt
      note
      totalRefundedSet {{ {_MONEY} }}
    }}
    order {{ id displayFinancialStatus }}
    userErrors {{ field message }}
  }}
}}
"""

# 1.5: Shopify's own computation for a partial refund (e.g. one missing item of a two-item order).
SUGGESTED_REFUND_QUERY = f"""
query SuggestedRefund($id: ID!, $refundLineItems: [RefundLineItemInput!], $refundShipping: Boolean) {{
  order(id: $id) {{
    id
    suggestedRefund(refundLineItems: $refundLineItems, refundShipping: $refundShipping) {{
      amountSet {{ {_MONEY} }}
      maximumRefundableSet {{ {_MONEY} }}
      subtotalSet {{ {_MONEY} }}
      shipping {{ amountSet {{ {_MONEY} }} }}
      refundLineItems {{ quantity lineItem {{ id }} subtotalSet {{ {_MONEY} }} }}
      suggestedTransactions {{
        parentTransaction {{ id }}
        gateway
        kind
        amountSet {{ {_MONEY} }}
      }}
    }}
  }}
}}
"""

ALL_DOCUMENTS: dict[str, str] = {
    "OrderForAfterSales": ORDER_QUERY,
    "OrderByName": ORDER_BY_NAME_QUERY,
    "OrderCancel": ORDER_CANCEL_MUTATION,
    "JobStatus": JOB_QUERY,
    "RefundCreate": REFUND_CREATE_MUTATION,
    "SuggestedRefund": SUGGESTED_REFUND_QUERY,
}
