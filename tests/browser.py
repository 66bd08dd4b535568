"""Headless Chromium (Debian's, never downloaded) and the Chalice app served on a free local port.

The app runs in this process under chalice's own local server, so the moto mock of the test
is what its handlers talk to; the browser talks to the server over HTTP like a moderator's.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Flags that keep Chromium off the network and away from any profile but a fresh one.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
                  "--disable-dev-shm-usage", "--window-size=1280,1000")
#: Runs before any script of every page: records alerts and CSP violations where tests can read them.
WATCH = """
window.__alerts = [];
window.__violations = [];
window.alert = function (message) { window.__alerts.push(String(message)); };
document.addEventListener('securitypolicyviolation', function (e) {
  window.__violations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline'));
});
"""


def missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return f"{path} not found: install Debian's chromium and chromium-driver (apt) to run the browser tests"
    try:
        import selenium  # noqa: F401, PLC0415
    except ImportError:
        return "selenium is not installed (requirements-dev.txt)"
    return None


def start_chromium(profile: Path) -> Any:
    from selenium import webdriver  # noqa: PLC0415
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    # An explicit driver and browser: Selenium Manager has nothing to look up or download.
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": WATCH})
    return driver


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve a Chalice app as `chalice local` does, on 127.0.0.1; yields its base URL."""
    from chalice.config import Config  # noqa: PLC0415
    from chalice.local import create_local_server  # noqa: PLC0415

    original = app.__class__
    port = free_port()
    config = Config.create(chalice_stage="local", app_name=app.app_name, function_name="api_handler",
                           lambda_timeout=30, lambda_memory_size=512)
    server = create_local_server(app, config, "127.0.0.1", port)
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server.server_close()
        thread.join(timeout=5)
        app.__class__ = original  # create_local_server swaps the class for thread-local requests


def require_browser() -> None:
    reason = missing_browser()
    if reason:
        pytest.skip(reason)

