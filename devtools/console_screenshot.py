"""Screenshot of the review console, taken with Debian's headless Chromium (never a downloaded browser).

Usage, with `make run` up on port 8000::

    python -m devtools.console_screenshot [--url http://127.0.0.1:8000/console] [--out docs/console.png]

The browser tests (tests/test_console_browser.py) start Chromium the same way.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Flags that keep Chromium off the network and away from any profile but a fresh one.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
                  "--disable-dev-shm-usage", "--hide-scrollbars")


def missing_browser() -> str | None:
    """Why Chromium cannot be driven here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return f"{path} not found: install Debian's chromium and chromium-driver (apt-get install chromium " \
                   "chromium-driver)"
    try:
        import selenium  # noqa: F401, PLC0415
    except ImportError:
        return "selenium is not installed (requirements-dev.txt)"
    return None


def start_chromium(profile: Path, width: int = 1280, height: int = 1000) -> Any:
    """A headless Chromium with a fresh profile, driven by Debian's chromedriver."""
    from selenium import webdriver  # noqa: PLC0415
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    # An explicit driver and browser: Selenium Manager has nothing to look up or download.
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


def screenshot(url: str, out: Path, width: int = 1280, settle_s: float = 2.0) -> Path:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        driver = start_chromium(Path(profile), width)
        try:
            driver.get(url)
            time.sleep(settle_s)  # the page reads the API after it loads
            height = int(driver.execute_script("return document.documentElement.scrollHeight"))
            # The whole page, not only the first screen.
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": min(max(height, 600), 6000), "deviceScaleFactor": 1, "mobile": False})
            time.sleep(0.3)
            out.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(out))
        finally:
            driver.quit()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.console_screenshot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000/console")
    parser.add_argument("--out", type=Path, default=Path("docs/console.png"))
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args(argv)
    reason = missing_browser()
    if reason:
        print(f"console_screenshot: {reason}", file=sys.stderr)
        return 2
    print(screenshot(args.url, args.out, args.width))
    return 0


if __name__ == "__main__":
    sys.exit(main())
