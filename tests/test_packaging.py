"""Packaging: backend selection, version, and the README commands CI runs."""

import os
import re
import subprocess
import sys
from pathlib import Path

import riemflow as rf

ROOT = Path(__file__).parent.parent


def _python(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "GEOMSTATS_BACKEND"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)


def test_importing_riemflow_selects_the_autograd_backend():
    proc = _python(
        "import riemflow, geomstats.backend as gs, geomstats._backend as b; "
        "print(b.BACKEND_NAME, gs.has_autodiff())"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["autograd", "True"]


def test_geomstats_imported_first_with_numpy_backend_is_refused_clearly():
    proc = _python("import geomstats.backend; import riemflow")
    assert proc.returncode != 0
    assert "ImportError" in proc.stderr and "Import riemflow before geomstats" in proc.stderr


def test_geomstats_imported_first_with_autograd_backend_is_fine():
    env = dict(os.environ, GEOMSTATS_BACKEND="autograd")
    proc = subprocess.run(
        [sys.executable, "-c", "import geomstats.backend; import riemflow"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr


def test_version():
    from importlib.metadata import version

    assert rf.__version__ == version("riemflow")


def test_readme_has_exactly_the_two_setup_commands_ci_runs():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"<!-- command: (\w+) -->\s*```bash\n(.+?)\n```", readme, re.S)
    assert [name for name, _ in blocks] == ["demo", "test"]
    commands = dict(blocks)
    assert commands["demo"].endswith("riemflow demo") and "pip install" in commands["demo"]
    assert "[test]" in commands["test"] and commands["test"].endswith("pytest")
    ci = (ROOT / ".ci" / "run").read_text()
    assert "readme_command demo" in ci and "readme_command test" in ci
    assert "mkdocs build --strict" in ci


def test_public_names_have_docstrings_with_examples():
    for name in rf.__all__:
        obj = getattr(rf, name)
        if callable(obj) and not isinstance(obj, type(rf)):
            assert obj.__doc__, name
    for fn in (
        rf.Parametrization,
        rf.gradient_flow,
        rf.gradient_descent,
        rf.models.diagonal_network,
        rf.spaces.immersed_manifold,
    ):
        assert "Example" in fn.__doc__, fn


def test_readme_example_runs():
    """The README's Python example is executed, so it cannot drift from the code."""
    readme = (ROOT / "README.md").read_text()
    (code,) = re.findall(r"```python\n(.+?)\n```", readme, re.S)
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    last = float(proc.stdout.strip().splitlines()[-1])
    assert last < 1e-10  # mirror flow and gradient flow agree


def test_code_in_the_docs_pages_fits_the_column():
    """Fenced code in the pages fits the docs column (84 characters, as the docstring
    examples; the rendered output is measured by .ci/check_site.py in the docs build)."""
    wide = []
    for page in sorted((ROOT / "docs").rglob("*.md")):
        inside = False
        for n, line in enumerate(page.read_text().splitlines(), 1):
            if line.lstrip().startswith("```"):
                inside = not inside
            elif inside and len(line) > 84:
                wide.append(f"{page.relative_to(ROOT)}:{n}: {line}")
    assert not wide, "\n".join(wide)
