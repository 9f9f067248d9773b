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


def _json(capsys):
    return json.loads(capsys.readouterr().out)


def test_help_teaches_every_command():
    text = __import__("riemflow.cli", fromlist=["build_parser"]).build_parser().format_help()
    for command in ("demo", "verify", "converse", "reproduce", "sweep", "Exit codes"):
        assert command in text


@pytest.mark.parametrize(
    "argv",
    [
        ["--model", "diagonal", "--depth", "3", "--alpha", "0.3"],
        ["--model", "quadratic", "--dim", "3", "--loss", "logistic"],
        ["--model", "sphere", "--dim", "2"],
    ],
)
def test_verify_forward_passes_on_commuting_models(capsys, argv):
    assert main(["verify", "forward", *argv, "--json"]) == 0
    data = _json(capsys)
    assert data["passed"] is True and data["commuting"]["passed"] is True
    assert data["max_deviation"] < 1e-8 and data["flow_tolerance"] == 1e-8


def test_verify_forward_fails_on_non_commuting_models_with_exit_1(capsys):
    assert main(["verify", "forward", "--model", "factorization", "--dim", "2", "--json"]) == 1
    data = _json(capsys)
    assert data["passed"] is False and data["commuting"]["max_bracket"] > 0.1
    assert data["loop"]["closes"] is False


def test_a_failed_check_is_exit_1_even_when_commuting(capsys):
    # an impossible tolerance: the flows agree to ~1e-11, not 1e-30
    assert main(["verify", "forward", "--tol", "1e-30", "--json"]) == 1
    assert _json(capsys)["passed"] is False


@pytest.mark.parametrize(
    "argv",
    [
        ["verify", "forward", "--dim", "0"],
        ["verify", "converse", "--box", "1:2:3"],
        ["verify", "converse", "--potential", "log_ball", "--box", "0.5:2"],  # outside dom R
        ["reproduce", "nobody"],
        ["sweep", "no_such_module:f", "--grid", "x=1"],
        ["sweep", "tests.data.sweep_functions:squares"],
        ["sweep", "tests.data.sweep_functions", "--grid", "x=1"],
    ],
)
def test_bad_input_is_exit_2_with_a_message(capsys, argv):
    assert main(argv) == 2
    assert "bad input" in capsys.readouterr().err


def test_verify_converse_passes(capsys):
    assert main(["verify", "converse", "--potential", "log_ball", "--tol", "1e-6", "--json"]) == 0
    data = _json(capsys)
    assert data["passed"] is True and data["isometry_defect"] < 1e-6
    assert data["max_deviation"] <= data["flow_tolerance"]
    assert data["isometry_tolerance"] == 1e-6


def test_converse_saves_a_reloadable_embedding(tmp_path, capsys):
    import numpy as np

    import riemflow as rf
    from riemflow.converse import load

    out = tmp_path / "ball.npz"
    argv = ["converse", "--potential", "log_ball", "--tol", "1e-6", "--box=-0.3:0.3"]
    assert main([*argv, "--out", str(out), "--json"]) == 0
    data = _json(capsys)
    saved = np.load(out)
    assert saved["values"].shape == (81, data["ambient_dim"])
    # the tabulated embedding is isometric to the stated defect
    J = saved["jacobians"]
    gap = np.abs(np.einsum("pai,paj->pij", J, J) - saved["metric"]).max()
    assert gap <= 2 * data["isometry_defect"] * np.abs(saved["metric"]).max()
    R = rf.potentials.log_ball(2)
    P = load(out, R, [(-0.3, 0.3)] * 2)
    np.testing.assert_array_equal(P.embedding(saved["points"]), saved["values"])
    assert P.isometry_defect == data["isometry_defect"]
    with pytest.raises(rf.errors.InputError, match="not the potential"):
        load(out, rf.potentials.negative_entropy(2), [(0.1, 0.5)] * 2)


def test_reproduce_quick_prints_claims_and_json(capsys):
    assert main(["reproduce", "li", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "claims reproduced" in out and "[FAIL" not in out
    assert main(["reproduce", "li", "--quick", "--json"]) == 0
    data = _json(capsys)
    assert data["passed"] is True and all(c["agrees"] for c in data["claims"])


def test_sweep_command_resumes_from_its_store(tmp_path, capsys):
    store = tmp_path / "s.db"
    argv = [
        "sweep",
        "tests.data.sweep_functions:squares",
        "--grid",
        "x=1,2.5,3",
        "--store",
        str(store),
        "--json",
    ]
    assert main(argv) == 0
    first = _json(capsys)
    assert [r["value"] for r in first["results"]] == [1, 6.25, 9]
    assert main(argv) == 0
    assert _json(capsys)["results"] == first["results"]
    failing = ["sweep", "tests.data.sweep_functions:fails_at_three", "--grid", "x=1,3"]
    assert main(failing) == 1
    assert main([*failing, "--errors", "record", "--json"]) == 1
    assert _json(capsys)["failed"] == 1


def test_bad_input_and_solver_failures_print_a_json_document(capsys):
    """With --json, exit codes 2 and 3 still print one JSON document on stdout, naming the
    flag the user typed (not the Python argument)."""
    assert main(["verify", "forward", "--t-final", "-1", "--json"]) == 2
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["error"] == "InputError" and data["exit_code"] == 2
    assert data["argument"] == "--t-final" and "`--t-final`" in data["message"]
    assert "t_span" not in captured.err and "--t-final" in captured.err


def test_negative_box_ends_need_no_equals_sign(capsys, tmp_path):
    out = tmp_path / "b.npz"
    argv = ["converse", "--potential", "log_ball", "--box", "-0.3:0.3", "--tol", "1e-4"]
    assert main([*argv, "--out", str(out), "--json"]) == 0
    assert _json(capsys)["box"] == [[-0.3, 0.3], [-0.3, 0.3]]


def test_python_dash_m_runs_the_command_line():
    proc = subprocess.run(
        [sys.executable, "-m", "riemflow", "reproduce", "--list"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and "woodworth" in proc.stdout


def test_sweep_imports_from_the_current_directory_and_removes_its_lock(tmp_path, monkeypatch):
    (tmp_path / "mymodule.py").write_text("def fn(alpha):\n    return {'y': 2 * alpha}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    argv = ["sweep", "mymodule:fn", "--grid", "alpha=0.5,1", "--store", "runs.db", "--json"]
    assert main(argv) == 0
    assert (tmp_path / "runs.db").exists() and not (tmp_path / "runs.db.lock").exists()


def test_ctrl_c_during_a_sweep_says_what_was_saved(tmp_path, capsys):
    store = tmp_path / "s.db"
    argv = ["sweep", "tests.data.sweep_functions:interrupted_at_three", "--grid", "x=1,2,3,4"]
    assert main([*argv, "--store", str(store)]) == 130
    err = capsys.readouterr().err
    assert f"2 of 4 points saved in {store}; run the same command to resume" in err
    assert "Traceback" not in err
