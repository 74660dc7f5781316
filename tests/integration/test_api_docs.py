"""The receiver's API pages work offline (issue 12): `/docs` and `/redoc` reference only the
receiver's own URLs, and those URLs serve the JavaScript and CSS the pages need."""

from __future__ import annotations

import re

import httpx
import pytest

from deployments.receiver import ReceiverSettings, create_app

REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|(?:url)\s*:\s*["']([^"']+)["']""")
ABSOLUTE = re.compile(r"(?:https?:)?//", re.IGNORECASE)


def _references(html: str) -> list[str]:
    return [a or b for a, b in REFERENCE.findall(html)]


@pytest.fixture
async def receiver() -> httpx.AsyncClient:
    app = create_app(ReceiverSettings(), emit_loop=False)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver")


@pytest.mark.parametrize(("page", "needs"), [
    ("/docs", {"javascript": "swagger-ui-bundle", "css": "swagger-ui"}),
    ("/redoc", {"javascript": "redoc"}),
])
async def test_api_page_loads_only_local_assets(receiver: httpx.AsyncClient, page: str,
                                                needs: dict[str, str]) -> None:
    async with receiver:
        html = (await receiver.get(page)).raise_for_status().text
        refs = _references(html)
        assert refs, html
        outside = [r for r in refs if ABSOLUTE.match(r)]
        assert outside == [], f"{page} loads from outside the receiver: {outside}"
        assert "fonts.googleapis" not in html and "cdn." not in html
        served: dict[str, str] = {}
        for ref in refs:
            if ref.endswith((".js", ".css", ".png")):
                answer = await receiver.get(ref)
                assert answer.status_code == 200, ref
                assert len(answer.content) > 1000, ref
                served[ref] = answer.headers["content-type"]
        for kind, name in needs.items():
            assert any(name in ref and kind in ctype for ref, ctype in served.items()), (kind, served)


async def test_docs_page_reads_the_receivers_own_openapi(receiver: httpx.AsyncClient) -> None:
    async with receiver:
        html = (await receiver.get("/docs")).text
        assert "'/openapi.json'" in html or '"/openapi.json"' in html
        assert '"validatorUrl": null' in html  # no badge fetched from validator.swagger.io
        spec = (await receiver.get("/openapi.json")).raise_for_status().json()
        assert "/docs" not in spec["paths"] and any(p.startswith("/webhooks/") for p in spec["paths"])
