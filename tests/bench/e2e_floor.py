"""The floor of the end-to-end benchmark: the same path with Prefect taken out.

`python -m tests.bench.e2e_floor PORT [CONCURRENCY]` serves `POST /api/events`, where the
receiver (its PREFECT_API_URL pointed here) hands its events, and runs the flow each event
would trigger (the `expect` lists of prefect.yaml's triggers) directly in this process: the
flow's own function (`Flow.fn`) with every task replaced by its function (`Task.fn`), the run
logger by a plain logger, and no artifact. Same receiver, ledger, store, supplier, SMTP and
the same flow code; no orchestration, no run process, no API calls to a Prefect server.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger("aftersales.floor")


def _strip_prefect() -> None:
    """Tasks become plain functions, the run logger a plain logger, artifacts nothing."""
    from prefect import Task

    import flows.cancellation
    import flows.common
    import flows.disputes
    import flows.orders
    import flows.returns
    import flows.sweep

    async def no_artifact(*_: Any, **__: Any) -> None:
        return None

    for name, module in list(sys.modules.items()):
        if not name.startswith(("flows.", "tasks.")) or module is None:
            continue
        for attr, value in list(vars(module).items()):
            if isinstance(value, Task):
                setattr(module, attr, value.fn)
        if hasattr(module, "get_run_logger"):
            module.get_run_logger = lambda name=name: logging.getLogger(name)  # type: ignore[attr-defined]
    flows.common.acreate_markdown_artifact = no_artifact  # type: ignore[assignment]


def _handlers() -> dict[str, Callable[..., Awaitable[Any]]]:
    """Event name -> the flow function its trigger starts (from prefect.yaml)."""
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    out: dict[str, Callable[..., Awaitable[Any]]] = {}
    for deployment in spec["deployments"]:
        module_name, _, attr = deployment["entrypoint"].rpartition(".")
        module = importlib.import_module(module_name)
        fn = getattr(module, attr).fn
        for trigger in deployment.get("triggers") or []:
            for name in trigger.get("expect", []):
                out.setdefault(name, fn)
    return out


def main() -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    port = int(sys.argv[1])
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    logging.basicConfig(level=logging.WARNING)
    _strip_prefect()
    handlers = _handlers()
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    stats = {"received": 0, "done": 0, "failed": 0, "ignored": 0}

    async def consume() -> None:
        while True:
            name, inbound_id = await queue.get()
            try:
                await handlers[name](inbound_event_id=inbound_id)
                stats["done"] += 1
            except Exception:
                stats["failed"] += 1
                log.exception("%s %s failed", name, inbound_id)
            finally:
                queue.task_done()

    async def events(request: Request) -> Response:
        for event in await request.json():
            stats["received"] += 1
            inbound_id = (event.get("payload") or {}).get("inbound_event_id")
            if event.get("event") in handlers and inbound_id:
                queue.put_nowait((event["event"], str(inbound_id)))
            else:
                stats["ignored"] += 1
        return Response(status_code=204)

    async def health(_: Request) -> Response:
        return JSONResponse({**stats, "queued": queue.qsize()})

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        consumers = [asyncio.create_task(consume()) for _ in range(concurrency)]
        yield
        for task in consumers:
            task.cancel()

    app = Starlette(routes=[Route("/api/events", events, methods=["POST"]), Route("/api/health", health),
                            Route("/healthz", health)], lifespan=lifespan)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
