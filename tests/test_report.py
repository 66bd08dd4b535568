"""The analysis report: pure aggregation, table resolution, and the files it writes."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from chalicelib.clients import AwsClients
from chalicelib.errors import ConfigError
from chalicelib.factory import Services
from chalicelib.models import Comment, LabeledComment, Prediction
from chalicelib.repository import CommentRepository
from devtools import report
from tests.conftest import create_table

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HOUR0 = 1_789_999_200  # an hour boundary (UTC)

needs_plotting = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None or importlib.util.find_spec("wordcloud") is None,
    reason="matplotlib/wordcloud not installed (pip install -r requirements-report.txt)",
)
# The command checks for matplotlib before reading anything, so even its no-chart paths need it.
needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None,
    reason="matplotlib not installed (pip install -r requirements-report.txt)",
)


def labeled(i: int, sub: str, label: str, score: float, body: str = "", created: float | None = None,
            model: str = "test/model") -> LabeledComment:
    cid = f"r{i:04d}"
    comment = Comment(id=cid, fullname=f"t1_{cid}", subreddit=sub, author=f"user{i}",
                      body=body or f"plain comment {i}", created_utc=created if created is not None else HOUR0 + i,
                      permalink=f"/r/{sub}/comments/abc/_/{cid}/", link_id="t3_abc", parent_id="t3_abc")
    return LabeledComment(comment, Prediction(label, score, model), classified_at=HOUR0 + 10_000)


def item(i: int, label: str, score: float, sub: str = "s", created: float = HOUR0, model: str = "m",
         body: str = "x") -> dict[str, Any]:
    return {"comment_id": f"c{i}", "subreddit": sub, "label": label, "score": score, "created_utc": created,
            "model": model, "body": body, "permalink": f"/r/{sub}/comments/a/_/c{i}/"}


# -- pure functions (no plotting package needed) ------------------------------------------


def test_tokenize_drops_urls_references_numbers_and_stop_words() -> None:
    text = ("Check https://evil.example/path?q=1 and www.site.org/x, the VERMIN!!! "
            "r/news u/bob /r/all 1234 &amp; don't they’re filth example.com")
    assert report.tokenize(text) == ["check", "vermin", "filth"]


def test_words_are_weighted_by_the_number_of_comments_using_them() -> None:
    """One comment repeating a word is one voice: it must not outweigh words many comments use."""
    counts = report.document_frequencies(["vermin vermin vermin vermin scum", "the scum http://x.y/vermin", "",
                                          "scum and filth"])
    assert counts == {"vermin": 1, "scum": 3, "filth": 1}
    assert report.top_words(counts, min_comments=2, limit=10) == [("scum", 3)]
    assert report.top_words(counts, min_comments=1, limit=2) == [("scum", 3), ("filth", 1)]  # ties by word
    # The aggregation counts the same way.
    r = report.aggregate([item(1, "hate", 0.9, body="brainwashed " * 6), item(2, "hate", 0.8, body="idiots galore"),
                          item(3, "hate", 0.7, body="idiots brainwashed"), item(4, "nothate", 0.9, body="idiots")])
    assert r.words == {"brainwashed": 2, "idiots": 2, "galore": 1}


def test_wilson_interval_matches_the_textbook_values() -> None:
    low, high = report.wilson_interval(1, 7)
    assert (round(low, 4), round(high, 4)) == (0.0257, 0.5131)
    low, high = report.wilson_interval(50, 100)
    assert (round(low, 4), round(high, 4)) == (0.4038, 0.5962)
    assert report.wilson_interval(0, 0) == (0.0, 1.0)
    assert report.wilson_interval(0, 10)[0] == 0.0 and report.wilson_interval(10, 10)[1] == pytest.approx(1.0)


def test_rank_subreddits_by_wilson_lower_bound_without_zero_rows() -> None:
    # 1 of 5 (20%) and 1 of 7 (14%) are small samples; 12 of 100 is well measured.
    counts = {"tiny": (5, 1), "seven": (7, 1), "big": (100, 12), "clean": (50, 0), "mid": (30, 6), "few": (4, 4)}
    ranked = report.rank_subreddits(counts, min_volume=5)
    assert [r.name for r in ranked] == ["mid", "big", "tiny", "seven"]
    assert "clean" not in [r.name for r in ranked]  # 0% rows are left out
    assert ranked[0].lower == pytest.approx(report.wilson_interval(6, 30)[0])
    assert [r.name for r in report.rank_subreddits(counts, min_volume=1, limit=2)] == ["few", "mid"]


def test_bin_size_follows_span_and_volume() -> None:
    day = 86_400
    # 600 comments over one day: hourly bins hold 25 on average.
    busy = {HOUR0 + h * 3600: (25, 1) for h in range(24)}
    assert report.choose_bin_size(busy).name == "hour"
    # 40 comments over 20 hours (the synthetic sample): hours would hold 2 each; 6-hour bins hold 10.
    assert report.choose_bin_size({HOUR0 + h * 3600: (2, 0) for h in range(20)}).name == "6 hours"
    # 634 comments from 2014 to 2023: days (3,400 bins) and months (114) are too many; quarters fit.
    start = 1_388_534_400  # 2014-01-01
    spread = {start + i * 14 * day - (start + i * 14 * day) % 3600: (2, 0) for i in range(250)}
    spread[start + 9 * 365 * day] = (134, 3)
    assert report.choose_bin_size(spread).name == "quarter"
    # Too few comments for any bin: as coarse as it takes to gather them, and no coarser. HOUR0 is
    # 02:00 UTC, so these two comments (02:00 and 07:00) first share a bin at day size.
    assert report.choose_bin_size({HOUR0: (1, 1), HOUR0 + 5 * 3600: (1, 0)}).name == "day"
    assert report.choose_bin_size({HOUR0: (3, 1)}).name == "hour"  # one hour of data: never "per year"


def test_trend_uses_calendar_bins_and_fills_the_gaps() -> None:
    may = 1_777_593_600  # 2026-05-01T00:00Z
    june = 1_780_272_000  # 2026-06-01
    aug = 1_785_542_400  # 2026-08-01
    hourly = {may + 3600: (10, 1), may + 20 * 86_400: (5, 5), aug + 7200: (3, 0)}
    size, points = report.trend(hourly, next(s for s in report.stats.BIN_SIZES if s.name == "month"))
    assert [(p.start, p.total, p.hate) for p in points] == [(may, 15, 6), (june, 0, 0), (june + 30 * 86_400, 0, 0),
                                                             (aug, 3, 0)]
    assert points[1].end == june + 30 * 86_400 and points[1].rate is None
    assert not points[0].reliable  # 15 comments: too few for a rate that means something
    size, points = report.trend({HOUR0 + h * 3600: (40, 2) for h in range(3)})
    assert size.name == "hour" and all(p.reliable for p in points) and sum(p.total for p in points) == 120
    week = next(s for s in report.stats.BIN_SIZES if s.name == "week")
    assert week.floor(1_780_000_000) == 1_779_667_200  # Thursday 2026-05-28 -> Monday 2026-05-25
    assert report.trend({})[1] == []


def test_aggregate_counts_and_keeps_the_most_confident_hateful() -> None:
    items = [item(i, "hate", score=0.5 + i / 100, sub="a" if i % 2 else "b", created=HOUR0 + i * 600)
             for i in range(30)]
    items += [item(100 + i, "nothate", 0.99, sub="b", model="other") for i in range(5)]
    seen: list[int] = []
    r = report.aggregate(items, progress=seen.append, every=10)
    assert seen == [10, 20, 30]
    assert (r.total, r.hate, dict(r.labels)) == (35, 30, {"hate": 30, "nothate": 5})
    assert r.models == {"m": 30, "other": 5}
    assert r.subreddits == {"a": (15, 15), "b": (20, 15)}
    assert r.hourly == {HOUR0: (11, 6), **{HOUR0 + h * 3600: (6, 6) for h in range(1, 5)}}
    assert (r.first_utc, r.last_utc) == (HOUR0, HOUR0 + 29 * 600)
    assert [h["comment_id"] for h in r.top_hateful] == [f"c{i}" for i in range(29, 9, -1)]  # 20, score desc


def test_hateful_bodies_are_truncated_and_links_stay_on_reddit() -> None:
    r = report.aggregate([item(1, "hate", 0.9, body="word " * 200)])
    assert len(r.top_hateful[0]["body"]) == report.BODY_CHARS and r.top_hateful[0]["body"].endswith("…")
    assert report.reddit_url("/r/a/comments/x/_/y/") == "https://www.reddit.com/r/a/comments/x/_/y/"
    assert report.reddit_url("javascript:alert(1)").startswith("https://www.reddit.com/")


def test_parse_since_accepts_epoch_iso_and_ages() -> None:
    assert report.parse_since("1790000000") == 1_790_000_000
    assert report.parse_since("2026-01-01") == 1_767_225_600
    assert report.parse_since("2026-01-01T01:00+01:00") == 1_767_225_600
    assert report.parse_since("24h", now=1_000_000) == 1_000_000 - 86_400
    assert report.parse_since("7d", now=1_000_000) == 1_000_000 - 7 * 86_400
    with pytest.raises(Exception, match="not epoch seconds"):
        report.parse_since("yesterday")


# -- which table ----------------------------------------------------------------------------


@pytest.fixture
def no_default_stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A developer's real .local/stack.json must not leak into these tests."""
    path = tmp_path / "absent" / "stack.json"
    monkeypatch.setattr(report.source, "STACK_ROOT", path.parent)
    return path


def test_target_prefers_table_flag_then_environment(no_default_stack: Path) -> None:
    assert report.resolve_target("flag-table", None, {"TABLE_NAME": "env-table"}).table == "flag-table"
    target = report.resolve_target(None, None, {"TABLE_NAME": "env-table"})
    assert (target.table, target.env) == ("env-table", {})


def test_target_without_any_source_says_how_to_point_at_one(no_default_stack: Path) -> None:
    with pytest.raises(ConfigError, match=r"--table NAME.*TABLE_NAME.*make run"):
        report.resolve_target(None, None, {})


def test_target_from_offline_stack_file(no_default_stack: Path) -> None:
    no_default_stack.parent.mkdir()
    no_default_stack.write_text(json.dumps({"aws_endpoint_url": "http://127.0.0.1:5999", "region": "eu-west-1",
                                            "table": "local-table", "bucket": "b"}))
    target = report.resolve_target(None, None, {})
    assert (target.table, target.region) == ("local-table", "eu-west-1")
    assert target.env == {"AWS_ENDPOINT_URL": "http://127.0.0.1:5999", "AWS_ACCESS_KEY_ID": "testing",
                          "AWS_SECRET_ACCESS_KEY": "testing"}
    # Credentials already set are left alone; TABLE_NAME wins over the stack file.
    assert "AWS_ACCESS_KEY_ID" not in report.resolve_target(None, None, {"AWS_ACCESS_KEY_ID": "k"}).env
    assert report.resolve_target(None, None, {"TABLE_NAME": "env"}).env == {}


def test_explicit_stack_file_must_exist_and_be_complete(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="stack file not found"):
        report.resolve_target(None, tmp_path / "nope.json", {})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"table": "t"}))
    with pytest.raises(ConfigError, match="aws_endpoint_url"):
        report.resolve_target(None, bad, {})


# -- the files -------------------------------------------------------------------------------


class Page(HTMLParser):
    """Collects what the tests check: elements by id, hateful items, model rows, images, links."""

    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[str, dict[str, str | None]] = {}
        self.by_class: dict[str, list[dict[str, str | None]]] = {}
        self.images: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.by_id[str(a["id"])] = a
        if a.get("class"):
            self.by_class.setdefault(str(a["class"]), []).append(a)
        if tag == "img":
            self.images.append(str(a["src"]))
        if tag == "a":
            self.links.append(str(a["href"]))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def value(page: Page, element_id: str) -> str:
    return str(page.by_id[element_id]["data-value"])


def assert_png(path: Path) -> None:
    from PIL import Image  # noqa: PLC0415 - Pillow comes with matplotlib, an optional dependency

    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.width > 300 and image.height > 200


STORED = [
    # subreddit a: 6 comments, 3 hateful; b: 5 comments, 1 hateful; c: 1 comment, hateful.
    labeled(1, "a", "hate", 0.91, "The vermin should leave, see https://evil.example/x and www.bad.org"),
    labeled(2, "a", "hate", 0.97, "<b>vermin</b> & scum, they are all vermin"),
    labeled(3, "a", "hate", 0.55, "scum everywhere"),
    labeled(4, "a", "nothate", 0.99),
    labeled(5, "a", "nothate", 0.80),
    labeled(6, "a", "nothate", 0.70, created=HOUR0 + 2 * 3600 + 5),
    labeled(7, "b", "hate", 0.62, "filth " * 100, model="offline/model"),
    labeled(8, "b", "nothate", 0.90, model="offline/model"),
    labeled(9, "b", "nothate", 0.90, model="offline/model"),
    labeled(10, "b", "nothate", 0.90, model="offline/model"),
    labeled(11, "b", "nothate", 0.90, model="offline/model"),
    labeled(12, "c", "hate", 0.80, "more vermin talk", created=HOUR0 + 3 * 3600 + 7),
]


@pytest.fixture
def stored(services: Services) -> Services:
    services.repository.put_labeled(STORED, retention_days=0)
    services.repository.add_counts(STORED)
    return services


@needs_plotting
def test_report_files_match_the_stored_data(stored: Services, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert report.main(["--table", "test-table", "--out", str(out), "--min-volume", "5"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(report.FILES)
    for name in report.FILES[:-1]:
        assert_png(out / name)

    page = parse(out / "report.html")
    assert value(page, "total") == "12"
    assert (value(page, "count-hate"), value(page, "count-nothate")) == ("5", "7")
    assert float(value(page, "hate-rate")) == pytest.approx(5 / 12)
    assert value(page, "subreddit-count") == "3"
    assert (value(page, "first-utc"), value(page, "last-utc")) == (str(HOUR0 + 1), str(HOUR0 + 3 * 3600 + 7))
    # Every model is listed with its count, and mixing them is called out.
    assert {m["data-model"]: m["data-count"] for m in page.by_class["model"]} == {"test/model": "7",
                                                                                "offline/model": "5"}
    assert "mixed-models" in page.by_id
    # Subreddit ranking honours --min-volume: c (1 comment) is left out, a (3/6) before b (1/5).
    assert [s["data-name"] for s in page.by_class["subreddit"]] == ["a", "b"]
    # Top hateful: score desc, escaped bodies, reddit links.
    hateful = page.by_class["hateful"]
    assert [h["data-id"] for h in hateful] == ["r0002", "r0001", "r0012", "r0007", "r0003"]
    scores = [float(str(h["data-score"])) for h in hateful]
    assert scores == sorted(scores, reverse=True)
    raw = (out / "report.html").read_text(encoding="utf-8")
    assert "<b>vermin</b>" not in raw and "&lt;b&gt;vermin&lt;/b&gt; &amp; scum" in raw
    assert "filth " * 100 not in raw  # long body truncated
    assert page.links[0] == "https://www.reddit.com/r/a/comments/abc/_/r0002/"
    # Words by the number of hateful comments using them (at least 2), no URLs or stop words: the one
    # comment repeating "filth" 100 times does not make it a word of the cloud.
    listed = [w["data-count"] for w in page.by_class["word"]]
    assert listed == ["3", "2"]  # vermin (r0001, r0002, r0012), scum (r0002, r0003)
    text = "".join(page.text)
    assert "vermin (3)" in text and "scum (2)" in text and "filth (" not in text
    assert "offline-model" not in page.by_id  # no label here comes from the offline stand-in
    for word in ("evil", "example", "www", "bad", "org", "the", "they", "see", "should", "https"):
        assert f"{word} (" not in text
    # Images are embedded, byte for byte, as data URIs.
    assert len(page.images) == 4
    embedded = {base64.b64decode(src.split(",", 1)[1]) for src in page.images}
    assert embedded == {(out / n).read_bytes() for n in report.FILES[:-1]}
    err = capsys.readouterr().err
    assert "reading test-table from --table" in err and "2 different models" in err


@needs_plotting
def test_filters_narrow_the_report(stored: Services, tmp_path: Path) -> None:
    out = tmp_path / "b"
    assert report.main(["--table", "test-table", "--out", str(out), "--subreddit", "r/B"]) == 0
    page = parse(out / "report.html")
    assert (value(page, "total"), value(page, "count-hate"), value(page, "subreddit-count")) == ("5", "1", "1")
    assert "mixed-models" not in page.by_id
    out = tmp_path / "since"
    assert report.main(["--table", "test-table", "--out", str(out), "--since", str(HOUR0 + 2 * 3600)]) == 0
    assert value(parse(out / "report.html"), "total") == "2"


@needs_matplotlib
def test_empty_selection_writes_nothing(services: Services, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert report.main(["--table", "test-table", "--out", str(out)]) == 0
    assert not out.exists()
    assert "no labeled comments found in TABLE test-table" in capsys.readouterr().err


@needs_matplotlib
def test_unreadable_table_fails_with_a_message(services: Services, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert report.main(["--table", "no-such-table", "--out", str(tmp_path / "o")]) == 1
    assert "cannot read table no-such-table" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@needs_plotting
def test_placeholders_without_hateful_comments_or_busy_subreddits(tmp_path: Path) -> None:
    r = report.aggregate([item(i, "nothate", 0.9, created=HOUR0 + i * 60) for i in range(3)])
    written = report.write_report(r, tmp_path, min_volume=5, meta={"table": "t"})
    assert [p.name for p in written] == list(report.FILES)
    for name in report.FILES[:-1]:
        assert_png(tmp_path / name)
    page = parse(tmp_path / "report.html")
    assert value(page, "count-nothate") == "3" and "count-hate" not in page.by_id
    assert "hateful" not in page.by_class and "subreddit" not in page.by_class


@needs_plotting
def test_offline_stack_file_is_enough(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`make report` with no flags while `make run` is up: only .local/stack.json says where to look."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        create_table("local-table")
        CommentRepository(AwsClients().dynamodb, "local-table").put_labeled(STORED[:4], retention_days=0)
        monkeypatch.delenv("AWS_ENDPOINT_URL")
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        stack = tmp_path / ".local" / "stack.json"
        stack.parent.mkdir()
        stack.write_text(json.dumps({"aws_endpoint_url": url, "region": "us-east-1", "table": "local-table",
                                     "api_url": "http://127.0.0.1:1", "bucket": "b"}))
        monkeypatch.setattr(report.source, "STACK_ROOT", stack.parent)
        out = tmp_path / "report"
        assert report.main(["--out", str(out)]) == 0
        page = parse(out / "report.html")
        assert (value(page, "total"), value(page, "count-hate")) == ("4", "3")
        assert os.environ["AWS_ENDPOINT_URL"] == url and os.environ["AWS_ACCESS_KEY_ID"] == "testing"
    finally:
        server.stop()


@needs_plotting
def test_offline_model_labels_get_a_visible_banner(tmp_path: Path) -> None:
    r = report.aggregate([item(1, "hate", 0.9, model="devtools/hate-static-lr-v2", body="vermin"),
                          item(2, "nothate", 0.9, model="devtools/hate-static-lr-v2")])
    report.write_report(r, tmp_path, min_volume=1, meta={"table": "t"})
    page = parse(tmp_path / "report.html")
    assert "offline-model" in page.by_id
    text = "".join(page.text)
    assert "Offline stand-in model: not for moderation decisions." in text
    raw = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert raw.index('id="offline-model"') < raw.index('id="summary"')  # at the top, before any number


def test_several_live_runs_make_the_report_ask_which(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from devtools.runstate import RunState  # noqa: PLC0415

    monkeypatch.setattr(report.source, "STACK_ROOT", tmp_path)
    runs = [RunState(port, root=tmp_path) for port in ("8000", "8001")]
    try:
        for run in runs:
            run.acquire()
            run.write_stack({"aws_endpoint_url": f"http://127.0.0.1:{run.key}", "table": f"t{run.key}"})
        # The first run owns .local/stack.json: no flags needed.
        assert report.resolve_target(None, None, {}).table == "t8000"
        (tmp_path / "stack.json").unlink()
        with pytest.raises(ConfigError, match=r"several `make run`s are up; pick one with --stack .*8000.*8001"):
            report.resolve_target(None, None, {})
        runs.pop().release()
        assert report.resolve_target(None, None, {}).table == "t8000"  # the one live run
    finally:
        for run in runs:
            run.release()


def _chromium() -> Any:
    """Headless Debian chromium through Selenium, or a skip saying what is missing."""
    if importlib.util.find_spec("selenium") is None:
        pytest.skip("selenium not installed (requirements-dev.txt)")
    if not (Path("/usr/bin/chromium").exists() and Path("/usr/bin/chromedriver").exists()):
        pytest.skip("Debian's chromium + chromium-driver are not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver  # noqa: PLC0415
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,900"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


@needs_plotting
def test_offline_banner_is_visible_at_the_top_in_a_browser(tmp_path: Path) -> None:
    r = report.aggregate([item(i, "hate" if i % 3 == 0 else "nothate", 0.9, model="devtools/hate-static-lr-v2",
                               body="vermin scum", created=HOUR0 + i * 900) for i in range(12)])
    report.write_report(r, tmp_path, min_volume=1, meta={"table": "t"})
    driver = _chromium()
    try:
        driver.get((tmp_path / "report.html").as_uri())
        banner = driver.find_element("id", "offline-model")
        assert banner.is_displayed()
        assert banner.text.startswith("Offline stand-in model: not for moderation decisions.")
        assert banner.location["y"] + banner.size["height"] < 900  # in the first screen, no scrolling
        summary = driver.find_element("id", "summary")
        assert banner.location["y"] < summary.location["y"]
        # Every chart loaded as an image (natural width > 0), none broken.
        widths = driver.execute_script("return [...document.images].map(i => i.naturalWidth)")
        assert len(widths) == 4 and min(widths) > 300
        driver.save_screenshot(str(tmp_path / "report.png"))
    finally:
        driver.quit()


@needs_plotting
def test_moderator_reviews_appear_in_the_report(stored: Services, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from chalicelib.reviews import ReviewRequest  # noqa: PLC0415

    out = tmp_path / "out"
    assert report.main(["--table", "test-table", "--out", str(out)]) == 0
    assert "reviews" not in parse(out / "report.html").by_id  # nothing reviewed, no section
    capsys.readouterr()
    hate_ids = [x.comment.id for x in STORED if x.prediction.label == "hate"]
    stored.reviews.review(hate_ids[0], ReviewRequest("hate"), None)
    stored.reviews.review(hate_ids[1], ReviewRequest("nothate", "sarcasm"), None)
    stored.reviews.review(hate_ids[2], ReviewRequest("hate"), None)
    assert report.main(["--table", "test-table", "--out", str(out)]) == 0
    page = parse(out / "report.html")
    assert "reviews" in page.by_id
    assert float(str(page.by_id["reviews-all"]["data-precision"])) == pytest.approx(2 / 3)
    assert "3 reviewed by moderators" in capsys.readouterr().out
