"""GET /console and its files: headers, the server's hints to the page, and the text-only rule."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest

from chalicelib import console, queries


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_console_page_has_a_strict_csp_and_no_inline_code(client: Any) -> None:
    response = client.http.get("/console")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    parser = Tags()
    parser.feed(response.body.decode())
    scripts = [attrs for tag, attrs in parser.tags if tag == "script"]
    assert scripts == [{"src": "console/app.js", "defer": None}]
    assert not [tag for tag, _ in parser.tags if tag == "style"]
    assert not [(t, a) for t, a in parser.tags for name in a if name.startswith("on") or name == "style"]


def test_the_page_is_told_the_auth_mode_and_the_servers_filters(client: Any) -> None:
    parser = Tags()
    parser.feed(client.http.get("/console").body.decode())
    body = next(attrs for tag, attrs in parser.tags if tag == "body")
    assert body["data-auth"] == "none"
    assert set((body["data-params"] or "").split(",")) == set(queries.COMMENT_PARAMS)
    assert body["data-offline-prefix"] == "devtools/"
    assert body["data-stage-model"] == ""  # settings' model is a production id: nothing to flag


def test_page_escapes_what_it_is_given_and_names_only_offline_models() -> None:
    page = console.page('api_key"><script>', ["label"], "devtools/hate-static-lr-v2").body
    assert 'data-auth="api_key&quot;&gt;&lt;script&gt;"' in page
    assert 'data-stage-model="devtools/hate-static-lr-v2"' in page
    assert 'data-stage-model=""' in console.page("none", [], "facebook/roberta").body


@pytest.mark.parametrize("name, content_type", [("app.js", "text/javascript"), ("console.css", "text/css")])
def test_console_files_are_served_with_their_type(client: Any, name: str, content_type: str) -> None:
    response = client.http.get(f"/console/{name}")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(content_type)
    assert response.headers["Content-Security-Policy"] == console.CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("name", ["index.html", "__init__.py", "..%2Fapp.py", "missing.js"])
def test_only_the_console_files_are_served(client: Any, name: str) -> None:
    assert client.http.get(f"/console/{name}").status_code == 404


def test_the_script_never_parses_api_text_as_html() -> None:
    script = (console.HERE / "app.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script, sink
    assert not re.search(r"setAttribute\(\s*[\"']on", script)
