"""Render the built documentation site in headless Chromium and check what a reader sees.

Usage: python .ci/check_site.py SITE_DIR

Every page is served over HTTP and loaded in Debian's `chromium` (driven by selenium and
`chromedriver`, `--headless --no-sandbox`). On each page: every `.arithmatex` element (math
written in the Markdown) must have been typeset by the vendored MathJax (an `mjx-container`,
no `merror`); every `<img>` must have loaded (`naturalWidth > 0`); every inline SVG figure
(matplotlib output) must have a non-empty box; the console must show no errors (a missing
script or a 404). Overall, the site must have typeset math and figures at all, so a check
that silently found nothing fails. Exit 0 when every page passes, 1 otherwise.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import sys
import threading
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
const started = Date.now();
(function poll() {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(() => done("ok"), (e) => done("error: " + e));
  } else if (Date.now() - started > 20000) {
    done("MathJax did not load within 20 s");
  } else { setTimeout(poll, 50); }
})();
"""

INSPECT = """
const math = [...document.querySelectorAll(".md-content .arithmatex")];
const untypeset = math.filter((e) => !e.querySelector("mjx-container")).map((e) => e.textContent);
const errors = [...document.querySelectorAll("mjx-merror, merror")].map((e) => e.textContent);
const images = [...document.querySelectorAll(".md-content img")];
const broken = images.filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => i.src);
const figures = [...document.querySelectorAll(".md-content svg")].filter(
  (s) => !s.closest("mjx-container") && !s.closest(".md-icon, .twemoji, button, a"));
const empty = figures.filter((s) => {
  const r = s.getBoundingClientRect(); return !(r.width > 10 && r.height > 10); }).length;
return {math: math.length, untypeset: untypeset.slice(0, 3), merror: errors.slice(0, 3),
        images: images.length, broken: broken, figures: figures.length, empty: empty};
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # one line per page is printed instead
        pass


def _serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,2000"):
        options.add_argument(arg)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_script_timeout(60)
    driver.set_page_load_timeout(60)
    return driver


def check(site: Path) -> int:
    pages = sorted(p for p in site.rglob("*.html") if p.name != "404.html")
    if not pages:
        print(f"no HTML pages under {site}")
        return 1
    server, root = _serve(site)
    driver = _browser()
    failures, totals = [], {"math": 0, "figures": 0, "images": 0}
    try:
        for page in pages:
            url = f"{root}/{page.relative_to(site).as_posix()}"
            driver.get(url)
            status = driver.execute_async_script(WAIT_FOR_MATHJAX)
            found = driver.execute_script(INSPECT)
            console = [
                entry["message"]
                for entry in driver.get_log("browser")
                if entry["level"] == "SEVERE" and "favicon" not in entry["message"]
            ]
            name = page.relative_to(site).as_posix()
            problems = []
            if status != "ok":
                problems.append(f"MathJax: {status}")
            if found["untypeset"]:
                problems.append(f"math not typeset: {found['untypeset']}")
            if found["merror"]:
                problems.append(f"MathJax errors: {found['merror']}")
            if found["broken"]:
                problems.append(f"images that did not load: {found['broken']}")
            if found["empty"]:
                problems.append(f"{found['empty']} SVG figure(s) with an empty box")
            if console:
                problems.append(f"console errors: {console[:3]}")
            for key in totals:
                totals[key] += found[key]
            verdict = "FAIL" if problems else "ok  "
            print(f"[{verdict}] {name}: {found['math']} math, {found['figures']} figures, "
                  f"{found['images']} images")  # fmt: skip
            failures += [f"{name}: {p}" for p in problems]
    finally:
        driver.quit()
        server.shutdown()
    if totals["math"] == 0:
        failures.append("no typeset math anywhere on the site")
    if totals["figures"] + totals["images"] == 0:
        failures.append("no figures anywhere on the site")
    print(f"{len(pages)} pages: {totals['math']} math elements typeset, "
          f"{totals['figures']} SVG figures, {totals['images']} images")  # fmt: skip
    for failure in failures:
        print("FAIL", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(check(Path(sys.argv[1])))
