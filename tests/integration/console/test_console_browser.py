"""The console in a real browser (Debian's chromium, headless, through Selenium) against
``interop dev``'s real processes: broker, gateway, connectors and demo registries
(``tests/faults/system.py``'s ``start_system``, shared by this module's tests).

Screenshots of the main pages go to ``$INTEROP_SCREENSHOTS`` when set (``docs/img`` to
refresh the README's), else to a temporary directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from contracts import load_catalogue
from tests.faults.system import System, start_system
from tests.support.accessibility import axe_violations
from tests.support.browser import browser_or_skip, headless

_DEADLINE_S = 30.0


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """One ``interop dev`` for the module (its console has the demo citizen sign-in)."""
    browser_or_skip()
    with start_system(tmp_path_factory.mktemp("console")) as running:
        yield running
    if running.process.stdout is not None:
        running.process.stdout.close()  # its pipe: else a ResourceWarning at exit


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("INTEROP_SCREENSHOTS")
    folder = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _shoot(driver: WebDriver, folder: Path, name: str) -> None:
    """Check the page with axe-core (WCAG A/AA), then save its screenshot."""
    assert axe_violations(driver) == [], name
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(700, min(int(height) + 40, 2200)))
    path = folder / f"console-{name}.png"
    assert driver.save_screenshot(str(path)), path
    assert path.stat().st_size > 10_000  # a real page, not a blank image


def _wait(what: str, check: Callable[[], Any], timeout_s: float = _DEADLINE_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.2)


def _navigates(driver: WebDriver, act: Callable[[], object]) -> None:
    """Do ``act`` (a click, a key) and wait until the next page has loaded: a mark left
    on the old page's window is gone (a new page has a new window object)."""
    driver.execute_script("window.__interopOldPage = true;")
    act()

    def arrived() -> bool:
        try:
            return bool(
                driver.execute_script(
                    "return window.__interopOldPage === undefined"
                    " && document.readyState === 'complete';"
                )
            )
        except WebDriverException:  # the page is being replaced right now
            return False

    _wait("the next page", arrived)


def _no_csp_violations(driver: WebDriver) -> None:
    logs = driver.get_log("browser")
    bad = [entry["message"] for entry in logs if "Content Security Policy" in entry["message"]]
    assert bad == []


def _sign_in(driver: WebDriver, url: str, key: str) -> None:
    driver.get(f"{url}/console/sign-in")
    driver.find_element(By.ID, "api_key").send_keys(key)
    _navigates(driver, driver.find_element(By.ID, "sign-in-submit").click)
    _wait("the signed-in page", lambda: driver.find_elements(By.ID, "sign-out"))


def _cookie(driver: WebDriver) -> dict[str, Any]:
    cookie = driver.get_cookie("interop_console")
    assert cookie is not None
    return cookie


async def _get(
    url: str, *, cookie: str | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], str]:
    jar = {"Cookie": f"interop_console={cookie}"} if cookie else {}
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers={**jar, **(headers or {})}, allow_redirects=False) as response,
    ):
        return response.status, dict(response.headers), await response.text()


async def _post(url: str, form: dict[str, str], cookie: str | None) -> tuple[int, str]:
    jar = {"Cookie": f"interop_console={cookie}"} if cookie else {}
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=form, headers=jar, allow_redirects=False) as response,
    ):
        return response.status, await response.text()


async def _exchange(system: System, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {system.keys['TOWN']}", "Prefer": "wait=20"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{system.url}/v1/exchanges", json=body, headers=headers) as response,
    ):
        return response.status, await response.json(content_type=None)


def _income_request(system: System) -> dict[str, Any]:
    person = system.people[1]  # the one interop dev's summary names for the income band
    year = max((y.year for y in person.income if y.filed), default=person.income[0].year)
    return {
        "service": "tax.income-band",
        "version": "1",
        "subject": person.document_number,
        "purpose": "social-benefits",
        "official": "funcionaria-0042",
        "legal_basis": load_catalogue().services["tax.income-band"].meta.legal_bases[0],
        "data": {"nif": person.document_number, "fiscal_year": year},
    }


def _residence_request(system: System) -> dict[str, Any]:
    person = system.people[0]
    return {
        "service": "register.residence-certificate",
        "version": "1",
        "subject": person.document_number,
        "purpose": "social-benefits",
        "official": "funcionari-0007",
        "procedure": "SUBV-2026-001",
        "data": {
            "document_type": person.document_type,
            "document_number": person.document_number,
        },
    }


def test_citizen_grants_then_revokes_income_consent(system: System, shots: Path) -> None:
    """A demo citizen (browser in Catalan) grants the town hall consent for the income
    band: the town's request answers 200; they revoke it: the next answers 403; their
    "who looked" page shows the one exchange; both changes are in the audit trail."""
    income = _income_request(system)
    status, denied = asyncio.run(_exchange(system, income))
    assert (status, denied.get("code")) == (403, "CONSENT_REQUIRED")
    with headless(languages="ca,es;q=0.8") as driver:
        driver.get(f"{system.url}/console/sign-in")
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ca"
        driver.find_element(By.ID, "demo-citizen-link").click()
        driver.find_element(By.ID, "document_number").send_keys(income["subject"])
        _navigates(driver, driver.find_element(By.ID, "demo-sign-in").click)
        _wait("the accesses page", lambda: driver.find_elements(By.ID, "demo-banner"))
        assert "DEMOSTRACIÓ" in driver.find_element(By.ID, "demo-banner").text
        assert driver.find_elements(By.ID, "no-accesses")

        _navigates(driver, driver.find_element(By.ID, "nav-consents").click)
        assert driver.find_elements(By.ID, "no-consents")
        Select(driver.find_element(By.ID, "grantee")).select_by_value("es.ayto-alcala")
        Select(driver.find_element(By.ID, "service")).select_by_value("tax.income-band")
        Select(driver.find_element(By.ID, "purpose")).select_by_value("social-benefits")
        _navigates(driver, driver.find_element(By.ID, "grant-submit").click)
        _wait("the saved notice", lambda: driver.find_elements(By.ID, "saved"))
        consents = driver.find_elements(By.CSS_SELECTOR, "li.consent")
        assert [c.get_attribute("data-state") for c in consents] == ["active"]
        allows = consents[0].find_element(By.CLASS_NAME, "allows").text
        assert "Ayuntamiento de Alcalá de Henares" in allows
        assert "social-benefits" in allows
        _shoot(driver, shots, "citizen-consents")

        status, answered = asyncio.run(_exchange(system, income))
        assert status == 200, answered
        assert answered["status"] == "completed"

        _navigates(driver, consents[0].find_element(By.CSS_SELECTOR, "button.revoke").click)
        _wait("the saved notice", lambda: driver.find_elements(By.ID, "saved"))
        states = [
            c.get_attribute("data-state")
            for c in driver.find_elements(By.CSS_SELECTOR, "li.consent")
        ]
        assert states == ["revoked"]
        status, refused = asyncio.run(_exchange(system, income))
        assert (status, refused.get("code")) == (403, "CONSENT_REQUIRED")

        def accesses() -> list[Any]:
            driver.get(f"{system.url}/console/citizen/accesses")
            return driver.find_elements(By.CSS_SELECTOR, "tr.access")

        rows = _wait("the completed exchange in the access list", accesses)
        assert len(rows) == 1
        assert rows[0].get_attribute("data-exchange") == answered["id"]
        cells = [cell.text for cell in rows[0].find_elements(By.TAG_NAME, "td")]
        assert cells[1:3] == ["Ayuntamiento de Alcalá de Henares", "funcionaria-0042"]
        assert cells[5] == "social-benefits"
        assert "Ley 58/2003" in cells[7]
        _shoot(driver, shots, "citizen-accesses")

        driver.find_element(By.CSS_SELECTOR, "a[hreflang=en]").click()
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
        assert driver.find_element(By.TAG_NAME, "h1").text == "Who looked at my data"
        _no_csp_violations(driver)

    async def audited() -> list[str]:
        status, _, text = await _get(
            f"{system.url}/v1/audit/events?type=CONSENT_GRANTED&type=CONSENT_REVOKED",
            headers={"Authorization": f"Bearer {system.keys['AUDITOR']}"},
        )
        assert status == 200
        return [e["actor"] for e in json.loads(text)["events"]]

    actors = _wait("the consent changes in the audit index", lambda: asyncio.run(audited()))
    assert actors == ["es.carpeta-ciudadana", "es.carpeta-ciudadana"]


def test_auditor_finds_exchange_by_subject_and_exports_what_the_api_answers(
    system: System, shots: Path
) -> None:
    """The auditor searches by subject, opens the exchange's timeline (requested to
    completed, with the official and procedure), and the CSV export is byte for byte the
    API's answer for the same filter; the checkpoint page verifies the signed note; the
    charts count the exchange under its service and outcome."""
    request = _residence_request(system)
    status, answered = asyncio.run(_exchange(system, request))
    assert status == 200, answered
    exchange_id = answered["id"]
    with headless() as driver:
        _sign_in(driver, system.url, system.keys["AUDITOR"])
        driver.find_element(By.ID, "nav-events").click()

        def found() -> list[Any]:
            field = driver.find_element(By.ID, "f-subject")
            field.clear()
            field.send_keys(request["subject"])
            _navigates(driver, driver.find_element(By.ID, "search-submit").click)
            return driver.find_elements(By.CSS_SELECTOR, "tr.event[data-type=COMPLETED]")

        rows = _wait("the completed exchange in the search", found)
        assert request["subject"] not in driver.current_url  # the subject stays in the session
        assert len(rows) == 1
        _shoot(driver, shots, "auditor-events")
        _navigates(driver, rows[0].find_element(By.CLASS_NAME, "exchange-link").click)
        assert driver.find_element(By.ID, "exchange-id").text == exchange_id
        timeline = driver.current_url

        def steps_indexed() -> list[str | None]:
            # The connector's RESPONDED may reach the index after the gateway's COMPLETED.
            driver.get(timeline)
            steps = [
                s.get_attribute("data-type")
                for s in driver.find_elements(By.CSS_SELECTOR, "li.step")
            ]
            return steps if {"RESPONDED", "COMPLETED"} <= set(steps) else []

        steps = _wait("the exchange's steps in the index", steps_indexed)
        assert steps[0] == "REQUESTED"
        assert steps[-1] == "COMPLETED"
        assert "RESPONDED" in steps
        assert driver.find_element(By.ID, "fact-official").text == "funcionari-0007"
        assert driver.find_element(By.ID, "fact-procedure").text == "SUBV-2026-001"
        assert driver.find_element(By.ID, "fact-requester").text == "es.ayto-alcala"
        _shoot(driver, shots, "auditor-timeline")

        cookie = _cookie(driver)["value"]
        status, headers, console_csv = asyncio.run(
            _get(f"{system.url}/console/auditor/events.csv", cookie=cookie)
        )
        assert status == 200
        assert headers["Content-Type"].startswith("text/csv")
        query = aiohttp.helpers.quote(request["subject"])
        status, _, api_csv = asyncio.run(
            _get(
                f"{system.url}/v1/audit/events?subject={query}&limit=50",
                headers={
                    "Authorization": f"Bearer {system.keys['AUDITOR']}",
                    "Accept": "text/csv",
                },
            )
        )
        assert status == 200
        assert console_csv == api_csv
        assert exchange_id in console_csv

        def verified() -> list[Any]:
            driver.get(f"{system.url}/console/auditor/checkpoint")
            return driver.find_elements(By.ID, "checkpoint-verified")

        _wait("a verified checkpoint", verified)
        command = driver.find_element(By.ID, "verify-command").text
        assert command.startswith(f"interop audit verify --gateway {system.url} --key ")
        assert (
            command.split("--key ")[1].split()[0] == system.verify[system.verify.index("--key") + 1]
        )
        _shoot(driver, shots, "auditor-checkpoint")

        _navigates(driver, driver.find_element(By.ID, "nav-charts").click)
        row = driver.find_element(
            By.CSS_SELECTOR, "#table-by-service tr[data-service='register.residence-certificate']"
        )
        assert int(row.find_element(By.CLASS_NAME, "count-COMPLETED").text) >= 1
        bars = driver.find_elements(By.CSS_SELECTOR, "#chart-by-service rect[data-kind=COMPLETED]")
        assert bars
        assert driver.find_elements(
            By.CSS_SELECTOR, "#table-latency tr[data-service='register.residence-certificate']"
        )
        _shoot(driver, shots, "auditor-charts")
        _no_csp_violations(driver)


def test_consumer_session_opens_neither_auditor_nor_citizen_pages(system: System) -> None:
    """The town hall (a consumer) signs in, but every auditor and citizen page and the
    CSV export answer 403, as the API would."""
    with headless() as driver:
        _sign_in(driver, system.url, system.keys["TOWN"])
        assert driver.find_elements(By.ID, "nothing-here")
        for page in ("auditor/events", "auditor/checkpoint", "citizen/accesses"):
            driver.get(f"{system.url}/console/{page}")
            assert driver.find_elements(By.ID, "error-message"), page
            assert not driver.find_elements(By.CSS_SELECTOR, "table"), page
        assert axe_violations(driver) == []  # the error page too
        cookie = _cookie(driver)["value"]
    for page in ("auditor/events", "auditor/events.csv", "citizen/consents", "citizen/act"):
        status, _, body = asyncio.run(_get(f"{system.url}/console/{page}", cookie=cookie))
        assert status == 403, page
        assert "es.ayto-alcala" in body  # says who lacks the role, shows no data


def test_form_without_its_csrf_token_is_refused(system: System) -> None:
    """A form posted without its CSRF token (removed in the browser), or with another
    session's, is refused 403 and changes nothing; with its token it goes through."""
    with headless() as driver:
        _sign_in(driver, system.url, system.keys["AUDITOR"])
        driver.get(f"{system.url}/console/auditor/events")
        driver.execute_script(
            "document.querySelector('#search-form input[name=csrf_token]').remove()"
        )
        driver.find_element(By.ID, "f-requester").send_keys("es.nobody")
        _navigates(driver, driver.find_element(By.ID, "search-submit").click)
        message = _wait("the refusal", lambda: driver.find_elements(By.ID, "error-message"))
        assert "token" in message[0].text
        driver.get(f"{system.url}/console/auditor/events")
        assert driver.find_element(By.ID, "f-requester").get_attribute("value") == ""
        cookie = _cookie(driver)["value"]
        token = driver.find_element(By.NAME, "csrf_token").get_attribute("value")
    page = asyncio.run(_get(f"{system.url}/console/sign-in"))[2]
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    other = found.group(1)  # another (anonymous) session's token
    assert other != token
    url = f"{system.url}/console/auditor/events"
    status, _ = asyncio.run(_post(url, {"requester": "x"}, cookie))
    assert status == 403
    status, _ = asyncio.run(_post(url, {"requester": "x", "csrf_token": other}, cookie))
    assert status == 403
    status, _ = asyncio.run(_post(url, {"requester": "x", "csrf_token": token or ""}, None))
    assert status == 403  # a token without its session is worth nothing
    status, _ = asyncio.run(_post(url, {"requester": "x", "csrf_token": token or ""}, cookie))
    assert status == 303


def test_unreadable_forms_and_unknown_files_are_plain_refusals(system: System) -> None:
    """A form that is not UTF-8 (before any sign-in or CSRF check) is a 400 page, and a
    file name too long for the file system under ``/static/`` a 404: both were 500s. The
    console's own files are still served with their types."""

    async def post_bytes(path: str, body: bytes) -> tuple[int, str, str]:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{system.url}{path}", data=body, headers=headers) as response,
        ):
            return response.status, response.content_type, await response.text()

    for path in ("/console/sign-in", "/console/demo/citizen", "/console/auditor/events"):
        status, content_type, page = asyncio.run(post_bytes(path, b"api_key=\xff\xfe"))
        assert (status, content_type) == (400, "text/html"), (path, page[:300])
        assert "could not be read" in page
    status, _, _ = asyncio.run(_get(f"{system.url}/console/static/{'a' * 300}"))
    assert status == 404
    for name, kind in (("console.css", "text/css"), ("favicon.svg", "image/svg+xml")):
        status, headers, _ = asyncio.run(_get(f"{system.url}/console/static/{name}"))
        assert (status, headers["Content-Type"].split(";")[0]) == (200, kind)
    status, _, _ = asyncio.run(_get(f"{system.url}/console/static/..%2Fsite.py"))
    assert status == 404


def test_session_cookie_is_dead_after_sign_out(system: System) -> None:
    """The cookie is HttpOnly and SameSite=Strict; after sign-out the same cookie opens
    nothing (the session is gone on the server, not only in the browser)."""
    with headless() as driver:
        _sign_in(driver, system.url, system.keys["AUDITOR"])
        cookie = _cookie(driver)
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Strict"
        assert cookie["path"] == "/console/"
        before = asyncio.run(_get(f"{system.url}/console/auditor/events", cookie=cookie["value"]))
        assert before[0] == 200
        assert "Content-Security-Policy" in before[1]
        assert "script-src 'self'" in before[1]["Content-Security-Policy"]
        _navigates(driver, driver.find_element(By.ID, "sign-out").click)
        _wait("the sign-in page", lambda: driver.find_elements(By.ID, "api_key"))
        assert axe_violations(driver) == []
    status, headers, _ = asyncio.run(
        _get(f"{system.url}/console/auditor/events", cookie=cookie["value"])
    )
    assert status == 303
    assert headers["Location"] == "/console/sign-in"


def test_citizen_objects_to_a_presumed_consent_lookup_and_withdraws(system: System) -> None:
    """With the keyboard only, a demo citizen objects to the residence lookup: the town's
    request is refused 403 while the opposition stands, and answers 200 once withdrawn."""
    person = system.people[2]
    request = {
        **_residence_request(system),
        "subject": person.document_number,
        "data": {"document_type": person.document_type, "document_number": person.document_number},
    }
    with headless(languages="es") as driver:
        driver.get(f"{system.url}/console/demo/citizen")
        # The first Tab reaches the skip link; Enter moves focus to the main content.
        ActionChains(driver).send_keys(Keys.TAB).perform()
        skip = driver.switch_to.active_element
        assert skip.get_attribute("class") == "skip"
        assert skip.text == "Ir al contenido"
        skip.send_keys(Keys.ENTER)
        assert driver.switch_to.active_element.get_attribute("id") == "main"
        field = driver.find_element(By.ID, "document_number")
        field.send_keys(person.document_number)
        field.send_keys(Keys.ENTER)  # submits the form, as a keyboard user would
        _wait("the accesses page", lambda: driver.find_elements(By.ID, "nav-consents"))
        driver.get(f"{system.url}/console/citizen/consents")
        Select(driver.find_element(By.ID, "oppose-service")).select_by_value(
            "register.residence-certificate"
        )
        submit = driver.find_element(By.ID, "oppose-submit")
        _navigates(driver, lambda: submit.send_keys(Keys.ENTER))
        _wait("the saved notice", lambda: driver.find_elements(By.ID, "saved"))
        opposed = driver.find_elements(By.CSS_SELECTOR, "li.opposition")
        assert [o.get_attribute("data-state") for o in opposed] == ["active"]
        assert "sin su permiso" in opposed[0].text
        status, refused = asyncio.run(_exchange(system, request))
        assert status == 403, refused
        withdraw = opposed[0].find_element(By.CSS_SELECTOR, "button.revoke")
        _navigates(driver, lambda: withdraw.send_keys(Keys.ENTER))
        _wait("the saved notice", lambda: driver.find_elements(By.ID, "saved"))
        states = [
            o.get_attribute("data-state")
            for o in driver.find_elements(By.CSS_SELECTOR, "li.opposition")
        ]
        assert states == ["revoked"]
    status, answered = asyncio.run(_exchange(system, request))
    assert status == 200, answered


def test_language_switch_never_leaves_the_console(system: System) -> None:
    """The switch sets the language cookie and goes back only to a console page: any
    other target (another site, a scheme-relative URL) goes to the console's home."""
    for target, expected in (
        ("/console/sign-in", "/console/sign-in"),
        ("https://evil.example/", "/console/"),
        ("//evil.example/console/", "/console/"),
        ("/console//evil.example", "/console/"),
    ):
        quoted = aiohttp.helpers.quote(target, safe="")
        status, headers, _ = asyncio.run(_get(f"{system.url}/console/lang/es?next={quoted}"))
        assert status == 303
        assert headers["Location"] == expected, target
        assert "interop_console_lang=es" in headers["Set-Cookie"]
    status, _, _ = asyncio.run(_get(f"{system.url}/console/lang/xx"))
    assert status == 404
    status, headers, _ = asyncio.run(_get(f"{system.url}/console"))
    assert (status, headers["Location"]) == (308, "/console/")


def test_browsing_never_counts_as_failed_authentication(system: System) -> None:
    """A browser asks every site for an icon: the console names its own, so browsing
    (40 pages) never earns the 401s that the edge throttles per address (30 a minute),
    and the API keeps answering this address."""
    with headless() as driver:
        for _ in range(40):
            driver.get(f"{system.url}/console/sign-in")
        icon = driver.find_element(By.CSS_SELECTOR, "link[rel=icon]").get_attribute("href")
        assert icon == f"{system.url}/console/static/favicon.svg"
    status, _, _ = asyncio.run(
        _get(
            f"{system.url}/v1/audit/events?limit=1",
            headers={"Authorization": f"Bearer {system.keys['AUDITOR']}"},
        )
    )
    assert status == 200


def test_the_accessibility_checker_finds_what_it_should() -> None:
    """axe-core, as the screenshots' check runs it, reports an unlabelled field and a
    missing page language: an empty list from it means something."""
    browser_or_skip()
    with headless() as driver:
        driver.get("data:text/html,<title>x</title><main><input type=text></main>")
        found = {violation["id"] for violation in axe_violations(driver)}
    assert {"label", "html-has-lang"} <= found
