"""A real browser for the console's tests: Debian's ``chromium`` driven by Selenium.

``chromium`` and ``chromium-driver`` are installed on demand, as ``devservers.postgres``
installs PostgreSQL: when ``/usr/bin/chromium`` or ``/usr/bin/chromedriver`` is missing
and we are root on a Debian-like machine with ``apt-get``, ``apt-get install`` runs once
per session. Selenium is pointed at those two files (never at a browser it would download
itself: the machines reach no such host). Where installing is impossible (not root, no
apt-get, the install failed), ``browser_or_skip`` skips with the reason; everything else
(a driver that does not start, a page that fails) is a test failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

__all__ = ["CHROMEDRIVER", "CHROMIUM", "BrowserUnavailableError", "browser_or_skip", "headless"]

CHROMIUM: Final = Path(os.environ.get("INTEROP_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER: Final = Path(os.environ.get("INTEROP_CHROMEDRIVER", "/usr/bin/chromedriver"))
_PACKAGES: Final = ("chromium", "chromium-driver")
_INSTALL_TIMEOUT_S: Final = 900
_lock = threading.Lock()
_install_error: list[str] = []


class BrowserUnavailableError(Exception):
    """Chromium and its driver are missing and cannot be installed here (the reason)."""


def ensure_installed() -> None:
    """Install Debian's chromium and chromium-driver if missing (once per process)."""
    with _lock:
        if CHROMIUM.exists() and CHROMEDRIVER.exists():
            return
        if _install_error:
            raise BrowserUnavailableError(_install_error[0])
        apt = shutil.which("apt-get")
        if os.geteuid() != 0 or apt is None:
            reason = (
                "chromium and chromium-driver are not installed and cannot be installed here "
                "(needs root and apt-get): apt-get install chromium chromium-driver"
            )
            _install_error.append(reason)
            raise BrowserUnavailableError(reason)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (
            [apt, "-q", "update"],
            [apt, "-q", "install", "-y", "--no-install-recommends", *_PACKAGES],
        ):
            done = subprocess.run(
                command,
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=_INSTALL_TIMEOUT_S,
            )
            if done.returncode != 0:
                tail = " | ".join(done.stderr.strip().splitlines()[-3:])
                reason = f"could not install chromium ({' '.join(command)}): {tail}"
                _install_error.append(reason)
                raise BrowserUnavailableError(reason)
        if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
            reason = f"installed {', '.join(_PACKAGES)} but {CHROMIUM} or {CHROMEDRIVER} is absent"
            _install_error.append(reason)
            raise BrowserUnavailableError(reason)


@contextmanager
def headless(
    *, languages: str = "en", width: int = 1280, height: int = 900
) -> Iterator[webdriver.Chrome]:
    """A headless Chromium (``languages``: its Accept-Language), quit at the end."""
    ensure_installed()
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # tests run as root, where Chromium's sandbox refuses to start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        f"--window-size={width},{height}",
        f"--lang={languages.split(',', maxsplit=1)[0]}",
    ):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": languages})
    # The browser's console log: tests read it for Content-Security-Policy violations.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def browser_or_skip() -> None:
    """Skip the calling test (with the reason) only when the browser cannot be installed."""
    try:
        ensure_installed()
    except BrowserUnavailableError as exc:
        pytest.skip(str(exc))
