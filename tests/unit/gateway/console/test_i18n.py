"""The console's message catalogue and language choice."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp.test_utils import make_mocked_request

from gateway.console.i18n import LANG_COOKIE, LANGUAGES, MESSAGES, choose_language, translate

_TEMPLATES = Path(__file__).parents[4] / "gateway" / "console" / "templates"


def test_every_message_has_every_language_with_the_same_placeholders() -> None:
    """Each key has a non-empty text per language, and the same {names} in each."""
    for key, texts in MESSAGES.items():
        assert len(texts) == len(LANGUAGES), key
        assert all(text.strip() for text in texts), key
        names = {frozenset(re.findall(r"{(\w+)}", text)) for text in texts}
        assert len(names) == 1, f"{key}: placeholders differ between languages"


def test_every_key_a_template_uses_exists() -> None:
    """No template asks for a word the catalogue lacks (StrictUndefined would 500 there)."""
    used: set[str] = set()
    for template in _TEMPLATES.glob("*.html"):
        used.update(re.findall(r"t\('([a-z_]+)'\)", template.read_text(encoding="utf-8")))
    assert used, "no t('...') calls found: the pattern is stale"
    assert used - MESSAGES.keys() == set()


def test_translate_fills_placeholders() -> None:
    """Placeholders are filled in the chosen language."""
    text = translate("ca", "opposition_blocks", service="Padró")
    assert "Padró" in text
    assert text.startswith("Cap administració")


@pytest.mark.parametrize(
    ("header", "cookie", "expected"),
    [
        ("ca-ES,ca;q=0.9,es;q=0.8", None, "ca"),
        ("es-ES,es;q=0.9", None, "es"),
        ("fr-FR,fr;q=0.9,es;q=0.5,en;q=0.4", None, "es"),
        ("en;q=0.2,ca;q=0.8", None, "ca"),
        ("de-DE", None, "en"),
        ("", None, "en"),
        ("es;q=abc,ca", None, "ca"),
        ("ca", "es", "es"),
        ("ca", "xx", "ca"),
    ],
)
def test_language_from_switch_then_accept_language(
    header: str, cookie: str | None, expected: str
) -> None:
    """The switch's cookie wins; else the best-quality language we speak; else English."""
    headers = {"Accept-Language": header}
    if cookie is not None:
        headers["Cookie"] = f"{LANG_COOKIE}={cookie}"
    request = make_mocked_request("GET", "/console/", headers=headers)
    assert choose_language(request) == expected
