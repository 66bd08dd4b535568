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

from devtools import console_screenshot

#: Runs before any script of every page: records alerts and CSP violations where tests can read them.
WATCH = """
window.__alerts = [];
window.__violations = [];
window.alert = function (message) { window.__alerts.push(String(message)); };
document.addEventListener('securitypolicyviolation', function (e) {
  window.__violations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline'));
});
"""


def start_chromium(profile: Path) -> Any:
    """Chromium as devtools.console_screenshot starts it, plus the alert and CSP watch."""
    driver = console_screenshot.start_chromium(profile)
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
    reason = console_screenshot.missing_browser()
    if reason:
        pytest.skip(reason)

