"""CJ Dropshipping API 2.0 (INTEGRATIONS.md §4: auth and envelope §4.1, orders §4.2, disputes §4.3).

Shaped like stripe-python's modules, one concern each, dependencies pointing down the list:

| module | holds |
|---|---|
| `models.py` | the wire models (`CJOrderDetail`, `CJDispute`, ..., the `Envelope`) and CJ's wire values |
| `errors.py` | CJ's error codes (most come inside HTTP 200) mapped onto domain/errors.py (`error_for`) |
| `auth.py` | the token pair: obtain, refresh, persist (`TokenStore`), getAccessToken once per 5 minutes |
| `client.py` | `CJClient`: HTTP transport, pacing to the account's call limit, one method per endpoint |
| `supplier.py` | `CJSupplier`, the `SupplierChannel` for cancellations (C3, C8) and returns (R4, R6) |

The product builds the client and the supplier in `tasks/clients.py` (the token store there is
the ledger, encrypted); the email channel and the channel interface are in `integrations/suppliers/`.
"""

from integrations.cj.auth import CJToken, InMemoryTokenStore, TokenStore
from integrations.cj.client import CallSpacing, CJClient, Pace, account_key
from integrations.cj.errors import error_for, next_quota_reset
from integrations.cj.supplier import CJSupplier

__all__ = [
    "CJClient",
    "CJSupplier",
    "CJToken",
    "CallSpacing",
    "InMemoryTokenStore",
    "Pace",
    "TokenStore",
    "account_key",
    "error_for",
    "next_quota_reset",
]
