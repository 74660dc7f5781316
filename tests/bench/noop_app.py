"""The yardstick of the ingest benchmark: a bare FastAPI endpoint that reads the body and
answers 200, served exactly like the receiver (`deployments.receiver.main`: uvicorn.run, one
process, log level warning). `python -m tests.bench.noop_app PORT`."""

from __future__ import annotations

import sys

from fastapi import FastAPI, Request

app = FastAPI(title="no-op")


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/webhooks/shopify")
async def noop(request: Request) -> dict[str, str]:
    await request.body()
    return {"status": "received", "event_id": "-"}


def main() -> None:
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")


if __name__ == "__main__":
    main()
