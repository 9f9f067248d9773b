"""MkDocs hooks for riemflow's documentation (listed under `hooks:` in mkdocs.yml).

Two things a plain markdown-exec build does not do:

- **Quick and full sizes.** The reproductions of the literature run at the papers' sizes
  only when `RIEMFLOW_DOCS_FULL=1` (CI and the published site); a local build runs them at
  reduced sizes and says so at the top of each page it reduced (any page whose code reads
  `RIEMFLOW_DOCS_FULL`).
- **Cached executions.** The output of every executed Python block is kept in
  `.cache/docs/`, keyed on the block's code, the code of the blocks before it in its
  session, the sizes, and a hash of the sources the pages run (riemflow, tests/data,
  examples, benchmarks, pyproject.toml) and of the installed versions of the numerical
  libraries. A rebuild (`mkdocs serve` after an edit) re-executes only the sessions whose
  code changed, from their first changed block; when a later block of a session misses the
  cache, the earlier ones are replayed first so that it sees their variables. A block that
  raises is never cached. `RIEMFLOW_DOCS_CACHE=0` turns the cache off (CI does).

Blocks run as markdown-exec runs them: one namespace per `session`, `print` writing to
the block's output, a module object registered under the block's name.
"""

from __future__ import annotations

import hashlib
import json
import linecache
import os
import re
import sys
import time
import traceback
from importlib import metadata
from io import StringIO
from pathlib import Path
from types import ModuleType

from markdown_exec import ExecutionError, base_format, code_block, formatters
from mkdocs.plugins import get_plugin_logger

log = get_plugin_logger("riemflow-docs")

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = ROOT / ".cache" / "docs"
#: what the executed pages read besides their own code
SOURCES = ("riemflow", "tests/data", "examples", "benchmarks")
LIBRARIES = ("numpy", "scipy", "autograd", "geomstats", "matplotlib", "pandas", "tabulate")
QUICK_NOTE = """
!!! info "Built at quick sizes"
    This copy of the page was built locally with reduced sizes, so that a first build of
    the whole site takes about 90 s of CPU; the numbers quoted in the text are those of the
    full sizes. Build with `RIEMFLOW_DOCS_FULL=1` (as the published site is) to run them.
"""


def _full() -> bool:
    return os.environ.get("RIEMFLOW_DOCS_FULL", "0") == "1"


def _cache_on() -> bool:
    return os.environ.get("RIEMFLOW_DOCS_CACHE", "1") != "0"


def _source_hash() -> str:
    digest = hashlib.sha256()
    files = [ROOT / "pyproject.toml"]
    for folder in SOURCES:
        files += sorted((ROOT / folder).rglob("*.py"))
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    for name in LIBRARIES:
        try:
            digest.update(f"{name}=={metadata.version(name)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{name} missing".encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()


class _Runner:
    """Executes the Python blocks of one build, with the cache and session replay."""

    def __init__(self) -> None:
        self.first_hash: str | None = None  # sources when the process started
        self.reset()

    def reset(self) -> None:
        self.sources = _source_hash()
        if self.first_hash is None:
            self.first_hash = self.sources
        # `mkdocs serve` keeps riemflow imported: after a source edit the blocks would run the
        # old code, so nothing is written to the cache until the server is restarted
        self.writable = _cache_on() and self.sources == self.first_hash
        if _cache_on() and not self.writable:
            log.warning(
                "riemflow's sources changed since this process started: restart "
                "`mkdocs serve` to run the new code (not caching until then)"
            )
        self.namespaces: dict[str, dict] = {}
        self.history: dict[str, list[str]] = {}  # code of the session's blocks so far
        self.pending: dict[str, list[tuple[str, str]]] = {}  # served from cache, not run
        self.counter = 0
        self.hits = self.misses = 0
        self.page = ""  # the page being converted, for the timings
        self.seconds: dict[str, float] = {}  # execution time per page

    def _key(self, code: str, session: str | None) -> str:
        before = self.history.get(session, []) if session else []
        payload = json.dumps([self.sources, _full(), session, before, code])
        return hashlib.sha256(payload.encode()).hexdigest()

    def _execute(self, code: str, name: str, namespace: dict) -> str:
        module = re.sub(r"[^a-zA-Z\d]+", "_", name)
        namespace["__name__"] = module
        sys.modules[module] = ModuleType(module)
        buffer = StringIO()

        def _print(*texts, end="\n", **_):
            buffer.write(" ".join(str(t) for t in texts) + end)

        namespace["print"] = _print
        linecache.cache[name] = (len(code), None, code.splitlines(keepends=True), name)
        try:
            exec(compile(code, name, "exec"), namespace)
        except Exception as error:
            trace = "".join(traceback.format_exception(error))
            raise ExecutionError(code_block("python", trace)) from error
        return buffer.getvalue()

    def run(self, code: str, returncode=None, session=None, id=None, **extra) -> str:
        self.counter += 1
        session = session or None
        name = f"<code block: {f'session {session}; ' if session else ''}n{self.counter}>"
        key = self._key(code, session)
        path = CACHE_DIR / key[:2] / f"{key}.txt"
        if session:
            self.history.setdefault(session, []).append(code)
        if _cache_on() and path.is_file():
            self.hits += 1
            if session:
                self.pending.setdefault(session, []).append((code, name))
            return path.read_text(encoding="utf-8")
        self.misses += 1
        start = time.perf_counter()
        namespace = self.namespaces.setdefault(session, {}) if session else {}
        try:
            for earlier, earlier_name in self.pending.pop(session, []) if session else []:
                self._execute(earlier, earlier_name, namespace)  # replay for their variables
            output = self._execute(code, name, namespace)
        finally:
            spent = time.perf_counter() - start
            self.seconds[self.page] = self.seconds.get(self.page, 0.0) + spent
        if self.writable:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(output, encoding="utf-8")
        return output


_runner = _Runner()


def _format_python(**kwargs):
    return base_format(language="python", run=_runner.run, **kwargs)


def on_config(config, **kwargs):
    # markdown-exec looks the formatter up per block, so replacing it here is enough
    formatters["python"] = formatters["py"] = _format_python
    return config


def on_pre_build(config, **kwargs):
    _runner.reset()
    size = "full" if _full() else "quick"
    cache = "on" if _cache_on() else "off"
    log.info(f"executing the pages' code at {size} sizes, execution cache {cache}")


def on_page_markdown(markdown, page, config, files, **kwargs):
    _runner.page = page.file.src_uri  # its blocks run while it is converted, next
    if _full() or "RIEMFLOW_DOCS_FULL" not in markdown:
        return markdown
    # after the title and the paragraph under it
    match = re.search(r"\A#[^\n]*\n\n(?:[^\n]+\n)*", markdown)
    at = match.end() if match else 0
    return markdown[:at] + QUICK_NOTE + markdown[at:]


def on_post_build(config, **kwargs):
    spent = sorted(_runner.seconds.items(), key=lambda item: -item[1])
    slowest = ", ".join(f"{page} {seconds:.0f} s" for page, seconds in spent[:5])
    log.info(
        f"executed {_runner.misses} code blocks in {sum(_runner.seconds.values()):.0f} s "
        f"({_runner.hits} more from the cache){'; slowest: ' + slowest if spent else ''}"
    )
