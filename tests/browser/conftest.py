"""Fixtures for the real-browser tests: a JupyterLab server and a headless Chromium page.

Every test under ``tests/browser/`` is marked ``browser`` and is skipped, with the reason, when
Playwright, Debian's Chromium or JupyterLab is missing. Set ``SVETLANA_REQUIRE_BROWSER=1`` to
make that an error instead. On failure a screenshot goes to ``test-artifacts/<test>-failure.png``
and the server log to ``test-artifacts/jupyterlab.log``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from lab import (
    ARTIFACTS,
    browser_unavailable_reason,
    lab_unavailable_reason,
    launch_browser,
    save_screenshot,
    start_lab_server,
)

HERE = Path(__file__).parent
_REPORT = pytest.StashKey[dict]()


def _require(reason: str | None) -> None:
    if reason is None:
        return
    if os.environ.get("SVETLANA_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser test cannot run: {reason}")
    pytest.skip(f"browser test: {reason}")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark the tests of this folder ``browser``; skip ``browser`` tests that cannot run."""
    reason = browser_unavailable_reason()
    require = os.environ.get("SVETLANA_REQUIRE_BROWSER") == "1"
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)
        if reason and not require and item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.skip(reason=f"browser test: {reason}"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Remember each phase's report, so fixtures can tell whether the test failed."""
    report = yield
    item.stash.setdefault(_REPORT, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    """A JupyterLab server (``lab.LabServer``) on 127.0.0.1, shared by the session.

    Its kernel is ``sys.executable`` (the venv running pytest); ``lab_server.root_dir`` is a
    fresh temp folder.
    """
    _require(lab_unavailable_reason())
    server = start_lab_server(tmp_path_factory.mktemp("jupyterlab"))
    try:
        yield server
    finally:
        server.stop()
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(server.log_path, ARTIFACTS / "jupyterlab.log")


@pytest.fixture
def browser_page(request, lab_server, tmp_path):
    """A Playwright ``Page`` in headless Chromium with a fresh profile, one per test.

    ``page.page_errors`` (list of str) collects uncaught front-end errors (``pageerror``,
    where widget errors show); ``page.console_errors`` collects console errors. At teardown
    the browser closes and every kernel of the server is shut down.
    """
    _require(browser_unavailable_reason())
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = launch_browser(playwright, tmp_path / "chromium-profile")
        page = context.pages[0] if context.pages else context.new_page()
        page.page_errors = []
        page.console_errors = []
        page.on("pageerror", lambda exc: page.page_errors.append(f"{exc.name}: {exc.message}"))
        page.on("console", lambda msg: msg.type == "error" and page.console_errors.append(msg.text))
        try:
            yield page
        finally:
            reports = request.node.stash.get(_REPORT, {})
            if any(r.failed for r in reports.values()):
                try:
                    save_screenshot(page, f"{request.node.name}-failure")
                except Exception:  # noqa: BLE001 - a screenshot must not hide the failure
                    pass
            context.close()
            lab_server.shutdown_kernels()
