from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict

TEMPLATES = Path(__file__).parent / "templates"
_LINE_BREAKS = re.compile(r"[\r\n\t\x0b\x0c\u2028\u2029]+")


class RenderedMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    language: str
    template: str
    subject: str
    text: str
    html: str | None


def available_languages() -> list[str]:
    return sorted(p.name for p in TEMPLATES.iterdir() if p.is_dir())


def pick_language(*candidates: str | None, default: str = "en") -> str:
    """M1: the customer's language when we have templates for it (`fr-CA` -> `fr`)."""
    langs = set(available_languages())
    for c in candidates:
        if not c:
            continue
        base = c.replace("_", "-").split("-")[0].lower()
        if base in langs:
            return base
    return default if default in langs else "en"


@lru_cache(maxsize=1)
def _env() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env


def one_line(value: str) -> str:
    """Fold any line break out of a value that ends up in a header (subject, display name)."""
    return _LINE_BREAKS.sub(" ", value).strip()


def render(template: str, language: str, context: Mapping[str, Any]) -> RenderedMessage:
    env = _env()
    base = f"{language}/{template}"
    subject = one_line(env.get_template(f"{base}.subject.j2").render(**context))
    text = env.get_template(f"{base}.txt.j2").render(**context)
    html: str | None = None
    if (TEMPLATES / language / f"{template}.html.j2").exists():
        html = env.get_template(f"{base}.html.j2").render(**context)
    return RenderedMessage(language=language, template=template, subject=subject, text=text, html=html)


@lru_cache(maxsize=4)
def operator_titles(language: str) -> dict[str, str]:
    """The operator alert's titles by alert type (templates/<lang>/_operator.j2), for the digest."""
    titles: dict[str, str] = _env().get_template(f"{language}/_operator.j2").module.titles  # type: ignore[attr-defined]
    return dict(titles)
