"""The `riemflow` command line."""

import json
import subprocess
import sys

import pytest

from riemflow.cli import main


def test_demo_passes_and_reports_its_checks(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "9 of 9 checks passed" in out
    assert "[FAIL]" not in out


def test_demo_json(capsys):
    assert main(["demo", "--json", "--seed", "3"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] is True
    assert len(data["checks"]) == 9
    for check in data["checks"]:
        assert {"name", "passed", "value", "tolerance", "detail"} <= set(check)


def test_usage_errors_exit_2():
    with pytest.raises(SystemExit) as info:
        main(["no-such-command"])
    assert info.value.code == 2


def test_console_script_installed():
    proc = subprocess.run(
        [sys.executable, "-m", "riemflow.cli", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "demo" in proc.stdout
