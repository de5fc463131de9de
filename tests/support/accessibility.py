"""Automated accessibility checks in the browser tests: axe-core, vendored.

``tests/support/axe/axe.min.js`` is axe-core as published on npm (MPL-2.0, see
``tests/support/axe/VERSION``), injected into the page under test through WebDriver
(never served by the console, so the page's CSP stays ``script-src 'self'``). Checked:
the WCAG 2.0/2.1 A and AA rules; a violation of any impact fails the test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from selenium.webdriver.remote.webdriver import WebDriver

__all__ = ["axe_violations"]

_AXE: Final = Path(__file__).parent / "axe" / "axe.min.js"
_RUN: Final = """
const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
  .then(result => done(result.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))))
  .catch(error => done([{id: 'axe-error', impact: 'critical', help: String(error), nodes: []}]));
"""


def axe_violations(driver: WebDriver) -> list[dict[str, Any]]:
    """The page's WCAG A/AA violations according to axe-core (empty: none found)."""
    if not driver.execute_script("return typeof window.axe !== 'undefined';"):
        driver.execute_script(_AXE.read_text(encoding="utf-8"))
    driver.set_script_timeout(30)
    violations: list[dict[str, Any]] = driver.execute_async_script(_RUN)
    return violations
