"""The review console: one HTML page, its script and its stylesheet, served by the API function.

The files sit beside this module, so they ship in the Lambda package with chalicelib, and are
read once per container on first use. The page carries no data: it reads the API with the
caller's key. The server tells it three things through data attributes (never inline script):
the stage's auth mode, the filters GET /comments offers, and the offline-model id prefix.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from string import Template

from chalicelib import schema

HERE = Path(__file__).resolve().parent
#: Only the page's own files run or style it: no inline script, no eval, no other origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}


@dataclass(frozen=True)
class Asset:
    body: str
    content_type: str

    def headers(self) -> dict[str, str | list[str]]:
        return {"Content-Type": self.content_type, **SECURITY_HEADERS}


@functools.cache
def _read(name: str) -> str:
    return (HERE / name).read_text(encoding="utf-8")


def page(auth_mode: str, comment_params: Iterable[str], stage_model: str) -> Asset:
    """The HTML page for this stage."""
    values = {
        "auth": auth_mode,
        "params": ",".join(sorted(comment_params)),
        "offline_prefix": schema.OFFLINE_MODEL_PREFIX,
        # Only an offline model id is handed to the page (for its banner); a production id is not needed.
        "stage_model": stage_model if schema.is_offline_model(stage_model) else "",
    }
    body = Template(_read("index.html")).substitute({k: html.escape(v, quote=True) for k, v in values.items()})
    return Asset(body, "text/html; charset=utf-8")


def asset(name: str) -> Asset | None:
    """One of the page's static files, or None for any other name."""
    content_type = ASSETS.get(name)
    return Asset(_read(name), content_type) if content_type else None
