"""The customer page in the store's colours stays readable whatever colours the store chose
(WCAG AA, 4.5:1): the ink, the hints' grey and the errors' red all follow the background."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deployments.customer_page.routes import contrast, theme_css

CSS = Path(__file__).parents[2] / "deployments" / "customer_page" / "static" / "page.css"


def test_contrast_is_wcags() -> None:
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast("#777777", "#ffffff"), 2) == 4.48  # the usual "just fails" grey


@pytest.mark.parametrize("background", ["#ffffff", "#faf7f2", "#111111", "#1f3a5f", "#777777", "#7b4a2d"])
def test_every_text_colour_reads_on_the_stores_background(background: str) -> None:
    values = dict(re.findall(r"--([a-z-]+):(#[0-9a-f]{6})", theme_css("#7b4a2d", background)))
    assert values["bg"] == background
    for name in ("ink", "muted", "error", "good"):
        assert contrast(values[name], background) >= 4.5, (name, values[name], background)
    assert contrast(values["on-brand"], "#7b4a2d") >= 4.5


def test_text_on_the_page_background_is_never_a_fixed_colour() -> None:
    """The steps of a case sit on the store's background: their colour is the theme's ink, not black."""
    rules = dict(re.findall(r"([^{}]+)\{([^}]*)\}", CSS.read_text()))
    for selector, body in rules.items():
        if selector.strip().startswith(".steps li") and "::before" not in selector:
            assert not re.search(r"(?<!-)color:\s*#", body), selector
