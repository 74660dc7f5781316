"""The Shopify client's resource groups (stripe-python's services): each builds its GraphQL
operations and reads their answers; `transport.Transport` sends them with the retry rules."""
