"""Every GraphQL document the Shopify client sends (INTEGRATIONS.md 1.4 to 1.8).

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
    events(first: 10, sortKey: HAPPENED_AT) {{ nodes {{ status happenedAt city province country message }} }}
    fulfillmentLineItems(first: 15) {{ nodes {{ quantity lineItem {{ id }} }} }}
  }}
  fulfillmentOrders(first: 4) {{
    nodes {{
      id
      status
      requestStatus
      assignedLocation {{ name }}
      fulfillmentHolds {{ id handle reason }}
      lineItems(first: 15) {{ nodes {{ remainingQuantity lineItem {{ id }} }} }}
    }}
  }}
  transactions(first: 20) {{
    id
    kind
    status
    gateway
    paymentId
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

# The order's refunds with how each went back (its transactions' gateways: store credit or the
# payment) and the line items it names: read only to record a refund made by hand in the admin
# (F2, `flows.returns.record_hand_refund`), never on the hot path (ORDER_QUERY's cost stays as it was).
ORDER_REFUNDS_QUERY = f"""
query OrderRefunds($id: ID!) {{
  order(id: $id) {{
    id
    refunds(first: 20) {{
      id
      createdAt
      note
      totalRefundedSet {{ {_MONEY} }}
      transactions(first: 3) {{ nodes {{ gateway kind status }} }}
      refundLineItems(first: 10) {{ nodes {{ quantity lineItem {{ id }} }} }}
    }}
  }}
}}
"""

# `query` is Shopify search syntax, e.g. "name:#1001" (the client builds it).
ORDER_BY_NAME_QUERY = (
    """
query OrderByName($query: String!) {
  orders(first: 1, query: $query) { nodes { ...AfterSalesOrder } }
}
"""
    + ORDER_FRAGMENT
)

# A payment processor's dispute that names only its transaction (PayPal `seller_transaction_id`):
# the orders paid through that gateway around the payment's time, with only their payment ids
# (the whole order of each would exceed the query cost limit); the caller reads the one that matches.
ORDERS_BY_PAYMENT_QUERY = """
query OrdersByPayment($query: String!) {
  orders(first: 50, query: $query) { nodes { id transactions(first: 5) { paymentId } } }
}
"""

# K7: the store's orders over a span (a month's sales for the chargeback ratio). `query` is
# search syntax on created_at (the client builds it); `limit: null` lifts the default cap of
# 10,000, and `precision` still says whether the count is exact.
ORDERS_COUNT_QUERY = """
query OrdersCount($query: String!) {
  ordersCount(query: $query, limit: null) { count precision }
}
"""

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

# ---------------------------------------------------------------------- returns (1.6)
#
# Everything `integrations.shopify.returns.ShopifyReturn` needs, shared by the return query, the
# order's returns and every return mutation. `returnLineItems` is a connection of the
# `ReturnLineItemType` interface: the link to the fulfilled line is only on the `ReturnLineItem`
# object. `returnReason` is deprecated (in favour of `returnReasonDefinition`) but still served
# in 2026-01 and is what the `returns/*` webhooks carry. A reverse fulfillment order line item
# links to its fulfillment line item, not to the return line item (SDL): the mapping joins them.
# Page sizes keep `OrderReturns` (four returns) under the 1000-point limit; a page that does not
# hold everything is refused by the mapping (`pageInfo.hasNextPage`).
RETURN_FRAGMENT = """
fragment AfterSalesReturn on Return {
  id
  name
  status
  createdAt
  closedAt
  order { id legacyResourceId }
  decline { reason note }
  returnLineItems(first: 15) {
    pageInfo { hasNextPage }
    nodes {
      id
      quantity
      processedQuantity
      unprocessedQuantity
      returnReason
      returnReasonNote
      customerNote
      ... on ReturnLineItem {
        fulfillmentLineItem { id lineItem { id } }
      }
    }
  }
  reverseFulfillmentOrders(first: 2) {
    nodes {
      id
      status
      lineItems(first: 15) {
        pageInfo { hasNextPage }
        nodes { id totalQuantity fulfillmentLineItem { id } }
      }
      reverseDeliveries(first: 3) {
        nodes {
          id
          deliverable {
            ... on ReverseDeliveryShippingDeliverable {
              tracking { carrierName number url }
              label { publicFileUrl }
            }
          }
        }
      }
    }
  }
}
"""

RETURN_QUERY = (
    """
query ReturnForAfterSales($id: ID!) {
  return(id: $id) { ...AfterSalesReturn }
}
"""
    + RETURN_FRAGMENT
)

# The order's latest returns, newest first: how a caller reconciles a `returnRequest` whose
# answer was lost (returnRequest has no @idempotent, 1.3).
ORDER_RETURNS_QUERY = (
    """
query OrderReturns($id: ID!) {
  order(id: $id) {
    id
    returns(first: 4, reverse: true) {
      pageInfo { hasNextPage }
      nodes { ...AfterSalesReturn }
    }
  }
}
"""
    + RETURN_FRAGMENT
)

# What the customer can still send back: fulfilled quantities not already in a return.
RETURNABLE_FULFILLMENTS_QUERY = """
query ReturnableFulfillments($orderId: ID!) {
  returnableFulfillments(orderId: $orderId, first: 5) {
    pageInfo { hasNextPage }
    nodes {
      id
      fulfillment { id }
      returnableFulfillmentLineItems(first: 25) {
        pageInfo { hasNextPage }
        nodes {
          quantity
          fulfillmentLineItem { id lineItem { id } }
        }
      }
    }
  }
}
"""

# Where each fulfilled line left from: the restock location of a return (RESTOCKED disposition).
ORDER_FULFILLMENT_LOCATIONS_QUERY = """
query OrderFulfillmentLocations($id: ID!) {
  order(id: $id) {
    id
    fulfillments(first: 5) {
      id
      location { id }
      fulfillmentLineItems(first: 25) { nodes { id } }
    }
  }
}
"""

_RETURN_PAYLOAD = """
    return { ...AfterSalesReturn }
    userErrors { field message code }
"""

# A customer-style request: the return is REQUESTED until approved or declined. Not idempotent.
RETURN_REQUEST_MUTATION = (
    f"""
mutation ReturnRequest($input: ReturnRequestInput!) {{
  returnRequest(input: $input) {{{_RETURN_PAYLOAD}  }}
}}
"""
    + RETURN_FRAGMENT
)

# REQUESTED -> OPEN, and Shopify creates the reverse fulfillment order(s).
RETURN_APPROVE_REQUEST_MUTATION = (
    f"""
mutation ReturnApproveRequest($input: ReturnApproveRequestInput!) {{
  returnApproveRequest(input: $input) {{{_RETURN_PAYLOAD}  }}
}}
"""
    + RETURN_FRAGMENT
)

# REQUESTED -> DECLINED (declineReason: FINAL_SALE | OTHER | RETURN_PERIOD_ENDED).
RETURN_DECLINE_REQUEST_MUTATION = (
    f"""
mutation ReturnDeclineRequest($input: ReturnDeclineRequestInput!) {{
  returnDeclineRequest(input: $input) {{{_RETURN_PAYLOAD}  }}
}}
"""
    + RETURN_FRAGMENT
)

# The return label and tracking. An empty `reverseDeliveryLineItems` list means every line of
# the reverse fulfillment order with its total quantity (SDL description of the argument).
REVERSE_DELIVERY_CREATE_WITH_SHIPPING_MUTATION = """
mutation ReverseDeliveryCreateWithShipping(
  $reverseFulfillmentOrderId: ID!
  $reverseDeliveryLineItems: [ReverseDeliveryLineItemInput!]!
  $trackingInput: ReverseDeliveryTrackingInput
  $labelInput: ReverseDeliveryLabelInput
  $notifyCustomer: Boolean
) {
  reverseDeliveryCreateWithShipping(
    reverseFulfillmentOrderId: $reverseFulfillmentOrderId
    reverseDeliveryLineItems: $reverseDeliveryLineItems
    trackingInput: $trackingInput
    labelInput: $labelInput
    notifyCustomer: $notifyCustomer
  ) {
    reverseDelivery {
      id
      reverseFulfillmentOrder { id }
      deliverable {
        ... on ReverseDeliveryShippingDeliverable {
          tracking { carrierName number url }
          label { publicFileUrl }
        }
      }
    }
    userErrors { field message code }
  }
}
"""

# Received quantities and their dispositions. The client never sends `financialTransfer`:
# money moves only through the idempotent refundCreate (F5); returnProcess has no @idempotent.
RETURN_PROCESS_MUTATION = (
    f"""
mutation ReturnProcess($input: ReturnProcessInput!) {{
  returnProcess(input: $input) {{{_RETURN_PAYLOAD}  }}
}}
"""
    + RETURN_FRAGMENT
)

RETURN_CLOSE_MUTATION = (
    f"""
mutation ReturnClose($id: ID!) {{
  returnClose(id: $id) {{{_RETURN_PAYLOAD}  }}
}}
"""
    + RETURN_FRAGMENT
)

# ---------------------------------------------------------------------- disputes (1.8)
#
# Shopify Payments disputes: chargebacks and inquiries with the merchant's evidence. The dates
# `evidenceDueBy`, `evidenceSentOn`, `finalizedOn` and `shippingDate` are `Date`s (no time of
# day). The evidence fragment also reads the evidence's dispute status and `evidenceSentOn`,
# so the answer of `disputeEvidenceUpdate` says whether the evidence went to the bank. Lists
# without `first` (fulfillments, disputeFileUploads) are plain lists in the SDL.
DISPUTE_EVIDENCE_FRAGMENT = f"""
fragment AfterSalesDisputeEvidence on ShopifyPaymentsDisputeEvidence {{
  id
  submitted
  customerEmailAddress
  customerFirstName
  customerLastName
  customerPurchaseIp
  productDescription
  uncategorizedText
  refundPolicyDisclosure
  cancellationPolicyDisclosure
  cancellationRebuttal
  refundRefusalExplanation
  accessActivityLog
  shippingAddress {{ {_ADDRESS} }}
  billingAddress {{ {_ADDRESS} }}
  fulfillments {{ id shippingCarrier shippingDate shippingTrackingNumber }}
  disputeFileUploads {{ id disputeEvidenceType fileType fileSize originalFileName url }}
  cancellationPolicyFile {{ id }}
  customerCommunicationFile {{ id }}
  refundPolicyFile {{ id }}
  serviceDocumentationFile {{ id }}
  shippingDocumentationFile {{ id }}
  uncategorizedFile {{ id }}
  dispute {{ id status evidenceSentOn }}
}}
"""

DISPUTE_FRAGMENT = (
    """
fragment AfterSalesDispute on ShopifyPaymentsDispute {
  id
  legacyResourceId
  status
  type
  initiatedAt
  evidenceDueBy
  evidenceSentOn
  finalizedOn
  amount { amount currencyCode }
  reasonDetails { reason networkReasonCode }
  order { id legacyResourceId name }
  disputeEvidence { ...AfterSalesDisputeEvidence }
}
"""
    + DISPUTE_EVIDENCE_FRAGMENT
)

DISPUTE_QUERY = (
    """
query DisputeForAfterSales($id: ID!) {
  dispute(id: $id) { ...AfterSalesDispute }
}
"""
    + DISPUTE_FRAGMENT
)

# The reconciliation sweep: every dispute still waiting for evidence (query filters of
# `disputes`: id, initiated_at, status). 25 a page: about 430 points by the fake's cost estimate.
OPEN_DISPUTES_QUERY = (
    """
query OpenDisputes($after: String) {
  disputes(first: 25, after: $after, query: "status:needs_response") {
    pageInfo { hasNextPage endCursor }
    nodes { ...AfterSalesDispute }
  }
}
"""
    + DISPUTE_FRAGMENT
)

# How a caller reconciles an ambiguous `disputeEvidenceUpdate`: read `submitted`.
DISPUTE_EVIDENCE_QUERY = (
    """
query DisputeEvidenceForAfterSales($id: ID!) {
  disputeEvidence(id: $id) { ...AfterSalesDisputeEvidence }
}
"""
    + DISPUTE_EVIDENCE_FRAGMENT
)

# No @idempotent in 2026-01 (1.3): a lost answer is reconciled, never resent. Drafts are saved
# with submitEvidence false; once submitted, Shopify answers EVIDENCE_ALREADY_ACCEPTED.
DISPUTE_EVIDENCE_UPDATE_MUTATION = (
    """
mutation DisputeEvidenceUpdate($id: ID!, $input: ShopifyPaymentsDisputeEvidenceUpdateInput!) {
  disputeEvidenceUpdate(id: $id, input: $input) {
    disputeEvidence { ...AfterSalesDisputeEvidence }
    userErrors { field message code }
  }
}
"""
    + DISPUTE_EVIDENCE_FRAGMENT
)

# What the order says against a FRAUDULENT / UNRECOGNIZED claim, every field checked against the
# 2026-01 SDL: the buyer's IP, addresses, customer history, the visit that led to the order,
# Shopify's risk assessment (`risk`, which replaces the deprecated `riskLevel` / `risks`) and the
# AVS / CVV results of the card payment (`CardPaymentDetails`, a member of `PaymentDetails`).
DISPUTE_ORDER_EVIDENCE_QUERY = f"""
query DisputeOrderEvidence($id: ID!) {{
  order(id: $id) {{
    id
    legacyResourceId
    name
    email
    phone
    createdAt
    clientIp
    billingAddressMatchesShippingAddress
    billingAddress {{ {_ADDRESS} }}
    shippingAddress {{ {_ADDRESS} }}
    customer {{ id numberOfOrders createdAt }}
    customerJourneySummary {{
      ready
      customerOrderIndex
      daysToConversion
      firstVisit {{ occurredAt source sourceType referrerUrl landingPage }}
      lastVisit {{ occurredAt source sourceType referrerUrl landingPage }}
    }}
    risk {{
      recommendation
      assessments {{
        riskLevel
        provider {{ title }}
        facts {{ description sentiment }}
      }}
    }}
    transactions(first: 10) {{
      id
      kind
      status
      gateway
      processedAt
      paymentDetails {{
        ... on CardPaymentDetails {{
          avsResultCode
          cvvResultCode
          bin
          company
          number
          name
          wallet
        }}
      }}
    }}
  }}
}}
"""

# K6: an order flagged for fraud signals is held before it goes to the supplier. Not
# `@idempotent` in 2026-01; the hold's `handle` makes a second identical hold a user error
# (DUPLICATE_FULFILLMENT_HOLD_HANDLE), and the hold is read back from the order first.
FULFILLMENT_ORDER_HOLD_MUTATION = """
mutation FulfillmentOrderHold($id: ID!, $fulfillmentHold: FulfillmentOrderHoldInput!) {
  fulfillmentOrderHold(id: $id, fulfillmentHold: $fulfillmentHold) {
    fulfillmentHold { id handle reason }
    fulfillmentOrder { id status }
    userErrors { field message code }
  }
}
"""

# The operator released the order (K6): only our own holds, by id.
FULFILLMENT_ORDER_RELEASE_HOLD_MUTATION = """
mutation FulfillmentOrderReleaseHold($id: ID!, $holdIds: [ID!]) {
  fulfillmentOrderReleaseHold(id: $id, holdIds: $holdIds) {
    fulfillmentOrder { id status }
    userErrors { field message code }
  }
}
"""

ALL_DOCUMENTS: dict[str, str] = {
    "OrderForAfterSales": ORDER_QUERY,
    "OrderRefunds": ORDER_REFUNDS_QUERY,
    "FulfillmentOrderHold": FULFILLMENT_ORDER_HOLD_MUTATION,
    "FulfillmentOrderReleaseHold": FULFILLMENT_ORDER_RELEASE_HOLD_MUTATION,
    "OrderByName": ORDER_BY_NAME_QUERY,
    "OrdersByPayment": ORDERS_BY_PAYMENT_QUERY,
    "OrderCancel": ORDER_CANCEL_MUTATION,
    "JobStatus": JOB_QUERY,
    "RefundCreate": REFUND_CREATE_MUTATION,
    "SuggestedRefund": SUGGESTED_REFUND_QUERY,
    "ReturnForAfterSales": RETURN_QUERY,
    "OrderReturns": ORDER_RETURNS_QUERY,
    "ReturnableFulfillments": RETURNABLE_FULFILLMENTS_QUERY,
    "OrderFulfillmentLocations": ORDER_FULFILLMENT_LOCATIONS_QUERY,
    "ReturnRequest": RETURN_REQUEST_MUTATION,
    "ReturnApproveRequest": RETURN_APPROVE_REQUEST_MUTATION,
    "ReturnDeclineRequest": RETURN_DECLINE_REQUEST_MUTATION,
    "ReverseDeliveryCreateWithShipping": REVERSE_DELIVERY_CREATE_WITH_SHIPPING_MUTATION,
    "ReturnProcess": RETURN_PROCESS_MUTATION,
    "ReturnClose": RETURN_CLOSE_MUTATION,
    "DisputeForAfterSales": DISPUTE_QUERY,
    "OpenDisputes": OPEN_DISPUTES_QUERY,
    "DisputeEvidenceForAfterSales": DISPUTE_EVIDENCE_QUERY,
    "DisputeEvidenceUpdate": DISPUTE_EVIDENCE_UPDATE_MUTATION,
    "DisputeOrderEvidence": DISPUTE_ORDER_EVIDENCE_QUERY,
    "OrdersCount": ORDERS_COUNT_QUERY,
}
