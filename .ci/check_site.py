r"""Render the built documentation site in headless Chromium and check what a reader sees.

Usage: python .ci/check_site.py SITE_DIR

Every page is served over HTTP and loaded in Debian's `chromium` (driven by selenium and
`chromedriver`, `--headless --no-sandbox`) in a 1280 x 2000 window. On each page:

- every `.arithmatex` element (math written in the Markdown) must have been typeset by the
  vendored MathJax (an `mjx-container`, no `merror`), and no visible text anywhere on the
  page (content, table of contents, navigation, figures) may still read as TeX: `\(`,
  `\[`, `$...$` or a backslash command such as `\mathbb`;
- every `<img>` must have loaded (`naturalWidth > 0`); every inline SVG figure (matplotlib
  output) must have a non-empty box, and none of its text may be rendered smaller than half
  the body text (matplotlib draws text as glyphs scaled from a 100-unit font, so a glyph's
  screen scale times 100 is its size in CSS pixels; `<text>` elements are measured
  directly);
- no code block, table or display equation may be wider than its column (its content
  scrolled or cut off at the right edge) unless it sits inside an element of class
  `rf-scroll`, the way a page asks for a horizontal scroll on purpose; nothing else may
  stick out of the content column;
- every docstring example must be rendered as code: no `>>>` outside a code block (a
  doctest read as Markdown becomes nested blockquotes) and no admonition titled "Example";
- the console must show no errors (a missing script or a 404).

Overall, the site must have typeset math and figures at all, so a check that silently found
nothing fails. Exit 0 when every page passes, 1 otherwise.
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

INSPECT = r"""
const math = [...document.querySelectorAll(".md-content .arithmatex")];
const untypeset = math.filter((e) => !e.querySelector("mjx-container")).map((e) => e.textContent);
const errors = [...document.querySelectorAll("mjx-merror, merror")].map((e) => e.textContent);
const images = [...document.querySelectorAll(".md-content img")];
const broken = images.filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => i.src);
const figures = [...document.querySelectorAll(".md-content svg")].filter(
  (s) => !s.closest("mjx-container") && !s.closest(".md-icon, .twemoji, button, a"));
const empty = figures.filter((s) => {
  const r = s.getBoundingClientRect(); return !(r.width > 10 && r.height > 10); }).length;
const name = (e) => {
  const text = (e.textContent || "").trim().replace(/\s+/g, " ");
  return `<${e.tagName.toLowerCase()}> "${text.slice(0, 60)}"`;
};

// figure text drawn smaller than half the body text
const body = parseFloat(getComputedStyle(document.querySelector(".md-typeset")).fontSize);
const tiny = [];
const label = (g) => {  // matplotlib writes each text as a comment before its glyphs
  const c = [...g.childNodes].find((n) => n.nodeType === Node.COMMENT_NODE);
  return (c ? c.textContent : g.textContent || "").trim().slice(0, 40);
};
for (const s of figures) {
  const sizes = [];
  for (const g of s.querySelectorAll('g[id^="text_"]')) {  // matplotlib text, as glyphs
    let size = 0;
    for (const u of g.querySelectorAll("use")) {
      const m = u.getScreenCTM();
      if (m) size = Math.max(size, 100 * Math.hypot(m.a, m.b));
    }
    if (size > 0) sizes.push([size, g]);
  }
  for (const t of s.querySelectorAll("text")) {  // text left as text (a hand-made SVG)
    const m = t.getScreenCTM();
    if (m) sizes.push([parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b), t]);
  }
  if (!sizes.length) continue;
  const [smallest, where] = sizes.reduce((a, b) => (b[0] < a[0] ? b : a));
  if (smallest < 0.5 * body) {
    tiny.push(`${smallest.toFixed(1)} px text "${label(where)}" (body text ${body} px)`);
  }
}

// blocks wider than their column, and anything else sticking out of it
const column = document.querySelector(".md-content__inner");
const right = column.getBoundingClientRect().right;
const intended = (e) => e.closest(".rf-scroll") !== null;
const scrolls = (e) => ["auto", "scroll", "hidden"].includes(getComputedStyle(e).overflowX);
const wide = [];
const blocks = "pre > code, table, .md-typeset__scrollwrap, div.arithmatex";
for (const e of column.querySelectorAll(blocks)) {
  if (e.scrollWidth > e.clientWidth + 1 && !intended(e)) {
    wide.push(`${name(e)} is ${e.scrollWidth} px wide in ${e.clientWidth} px`);
  }
}
for (const e of column.querySelectorAll("*")) {
  const r = e.getBoundingClientRect();
  // inline code at the end of a line may reach past it by its own padding
  const slack = getComputedStyle(e).display === "inline" ? 6 : 1;
  if (r.width === 0 || r.right <= right + slack || intended(e)) continue;
  let a = e, inside = false;  // a scroll container (checked above) or inside one
  while (a && a !== column) {
    if (scrolls(a)) { inside = true; break; }
    a = a.parentElement;
  }
  const by = Math.round(r.right - right);
  if (!inside) wide.push(`${name(e)} sticks out of the column by ${by} px`);
}

// docstring examples read as Markdown (nested blockquotes) or titled as an admonition
const doctests = [];
const walker = document.createTreeWalker(column, NodeFilter.SHOW_TEXT);
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  if (n.textContent.includes(">>>") && !n.parentElement.closest("pre, code")) {
    doctests.push(name(n.parentElement));
  }
}
for (const a of column.querySelectorAll(".admonition, details")) {
  const title = a.querySelector(".admonition-title, summary");
  if (title && /^\s*examples?\s*$/i.test(title.textContent)) {
    doctests.push(`admonition "${title.textContent.trim()}"`);
  }
}

// raw TeX in visible text, anywhere on the page
const tex = /\\[()[\]]|\\[A-Za-z]{2,}|\$[^$\s][^$]*\$/;
const raw = [];
const all = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let n = all.nextNode(); n; n = all.nextNode()) {
  const p = n.parentElement;
  if (!p || !tex.test(n.textContent)) continue;
  if (p.closest("script, style, pre, code, mjx-container, .md-search, textarea")) continue;
  if (!p.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) continue;
  raw.push(n.textContent.trim().slice(0, 80));
}

return {math: math.length, untypeset: untypeset.slice(0, 3), merror: errors.slice(0, 3),
        images: images.length, broken: broken, figures: figures.length, empty: empty,
        tiny: tiny.slice(0, 3), wide: wide.slice(0, 5), n_wide: wide.length,
        doctests: doctests.slice(0, 3), n_doctests: doctests.length, raw: raw.slice(0, 3),
        n_raw: raw.length};
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
            if found["tiny"]:
                problems.append(f"figure text below half the body text: {found['tiny']}")
            if found["wide"]:
                problems.append(
                    f"{found['n_wide']} block(s) wider than the column: {found['wide']}"
                )
            if found["doctests"]:
                problems.append(
                    f"{found['n_doctests']} docstring example(s) not rendered as code "
                    f"(an 'Example:' section? use 'Examples:'): {found['doctests']}"
                )
            if found["raw"]:
                problems.append(f"{found['n_raw']} visible text(s) with raw TeX: {found['raw']}")
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
