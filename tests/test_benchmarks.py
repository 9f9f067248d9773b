"""Smoke test of the benchmark suite (`python -m benchmarks.run`).

Runs every case at its smallest size with one repeat and checks the table's shape, that
every time is finite and positive, and that the agreement checks hold (pullback metric
and tangent kernel equal to geomstats' to 1e-12, the numerical mirror potential equal to
the closed form). No timing assertions: timings are the benchmark's business.
"""

import json
import math
import pathlib
import sys

import pytest

pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[1]

EXPECTED = {
    ("1", "gradient_flow"),
    ("1", "verify_equivalence"),
    ("2", "pullback metric"),
    ("2", "tangent kernel"),
    ("3", "check_commuting"),
    ("4", "mirror_potential R"),
    ("4", "mirror_potential grad R"),
    ("4", "mirror_potential hess R"),
    ("5", "commuting_parametrization"),
    ("6", "A1 product L=3: mirror_potential + implicit_bias"),
    ("6", "A2 product L=3: one R"),
    ("6", "A2 product L=3: one grad R"),
    ("6", "A2 product L=3: one hess R"),
    ("6", "A3 product L=3: mirror_flow to t=1000"),
    ("6", "B u^3+u-v^3-v: mirror_potential + implicit_bias"),
    ("6", "C M (u^3+u-v^3-v): mirror_potential + implicit_bias"),
    ("6", "D no structure: one grad conjugate"),
    ("6", "D no structure: one grad"),
    ("6", "E switching loss (declared) vs fixed loss: mirror_flow"),
    ("7", "commuting_parametrization, 500 curved 2-D blocks"),
    ("7", "commuting_parametrization, radial"),
    ("7", "numerical converse d=3 -log det"),
}
#: rows whose alternative is refused at once (no baseline time; the refusal is in checks)
NO_BASELINE = {("7", "commuting_parametrization, radial")}


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks.run import main

    path = tmp_path_factory.mktemp("bench") / "out.json"
    result = main(["--quick", "--smallest", "--repeats", "1", "--json", str(path)])
    return result, path


def test_every_case_is_in_the_table(suite):
    result, _ = suite
    names = {(row["case"], row["name"]) for row in result["rows"]}
    assert EXPECTED <= names, EXPECTED - names
    plain = [row for row in result["rows"] if not row["variant"]]
    assert len(plain) == len(EXPECTED)  # one size each
    for row in plain:  # every row has its baseline, or says why it has none
        if (row["case"], row["name"]) in NO_BASELINE:
            assert row["checks"]["dense_route"].startswith("refused at once"), row
        else:
            assert row["baseline"], row


def test_times_are_finite_and_positive(suite):
    result, _ = suite
    for row in result["rows"]:
        times = row["riemflow"] + (row["baseline"] or [])
        assert times and all(math.isfinite(t) and t > 0 for t in times), row
        assert len(row["riemflow"]) == 1
        if row["baseline"]:
            assert math.isfinite(row["ratio"]) and row["ratio"] > 0


def test_agreement_checks_hold(suite):
    result, _ = suite
    rows = {(row["case"], row["name"], row["variant"]): row for row in result["rows"]}
    assert rows["2", "pullback metric", ""]["checks"]["metric_rel_diff"] <= 1e-12
    assert rows["2", "tangent kernel", ""]["checks"]["kernel_rel_diff"] <= 1e-12
    for op in ("R", "grad R", "hess R"):
        row = rows["4", f"mirror_potential {op}", ""]
        assert row["checks"]["rel_diff"] <= 1e-9 and row["met"]
    assert rows["1", "gradient_flow", ""]["checks"]["w_rel_diff"] <= 1e-10
    assert rows["5", "commuting_parametrization", ""]["checks"]["defect"] <= 1e-3
    blocks = rows["7", "commuting_parametrization, 500 curved 2-D blocks", ""]["checks"]
    assert blocks["defect"] <= 1.01 * blocks["block_defect"] and blocks["defect"] <= 1e-8
    assert rows["7", "commuting_parametrization, radial", ""]["checks"]["defect"] <= 1e-10
    assert rows["7", "numerical converse d=3 -log det", ""]["checks"]["defect"] <= 1e-6
    failed = [(r["case"], r["name"], r["variant"], r["checks"]) for r in result["rows"]]
    failed = [f for f, r in zip(failed, result["rows"], strict=True) if not r["agree"]]
    assert not failed


def test_json_output(suite):
    result, path = suite
    saved = json.loads(path.read_text())
    assert saved["machine"]["nproc"] >= 1 and saved["machine"]["cpu"]
    assert len(saved["rows"]) == len(result["rows"])
