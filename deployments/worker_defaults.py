"""Values of the fork worker's environment defaults (`python -m deployments.worker`, which sets
each unless the operator's environment does) that tests hold it to. Imports nothing: read before
Prefect reads its settings at import. Why each value: deployments/worker/__main__.py."""

from __future__ import annotations

CLIENT_MAX_RETRIES = 7  # about 4 minutes of backing off from a busy Prefect API (Prefect's 5: about one)
