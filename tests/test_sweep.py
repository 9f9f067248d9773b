"""Sweeps: grid order, seeds, backends that agree bit for bit, and a store that survives
interruption (Ctrl-C, SIGKILL at random points) with nothing lost and nothing duplicated."""

from __future__ import annotations

import fcntl
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from riemflow.errors import InputError
from riemflow.sweep import StoreBusyError, SweepPointError, grid, load, point_seed, sweep
from tests.data import sweep_functions as funcs

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "tests" / "data" / "sweep_functions.py"


def test_grid_is_the_cartesian_product_last_axis_fastest():
    assert grid(a=[1, 2], b=["x", "y"]) == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
    ]
    assert grid(a=np.array([0.5, 1.5])) == [{"a": 0.5}, {"a": 1.5}]
    assert type(grid(a=np.array([1, 2]))[0]["a"]) is int


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"a": []}, "empty"),
        ({"a": 3}, "sequence"),
        ({"a": "abc"}, "sequence"),
        ({"a": [1.0, float("nan")]}, "non-finite"),
        ({"a": [[1, 2]]}, "JSON scalars"),
    ],
)
def test_bad_grids_are_refused(bad, match):
    with pytest.raises(InputError, match=match):
        sweep(funcs.squares, bad, progress=False)


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(InputError, match="more than once"):
        sweep(funcs.squares, [{"x": 1}, {"x": 1}], progress=False)
    with pytest.raises(InputError, match="no points"):
        sweep(funcs.squares, [], progress=False)
    with pytest.raises(InputError, match="keyword arguments z"):
        sweep(funcs.squares, {"z": [1]}, progress=False)
    with pytest.raises(InputError, match="callable"):
        sweep(3, {"x": [1]}, progress=False)
    with pytest.raises(InputError, match="errors"):
        sweep(funcs.squares, {"x": [1]}, errors="ignore", progress=False)
    with pytest.raises(InputError, match="n_jobs"):
        sweep(funcs.squares, {"x": [1]}, n_jobs=0, progress=False)
    with pytest.raises(InputError, match="does not exist"):
        sweep(funcs.squares, {"x": [1]}, store=tmp_path / "no" / "s.db", progress=False)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(InputError, match="not a riemflow results store"):
        sweep(funcs.squares, {"x": [1]}, store=junk, progress=False)


def test_results_come_in_grid_order_with_parameters_seed_and_results():
    df = sweep(funcs.squares, {"x": [3.0, 1.0, 2.0]}, progress=False)
    assert list(df.columns) == ["x", "seed", "value", "vector"]
    assert df["x"].tolist() == [3.0, 1.0, 2.0]
    assert df["value"].tolist() == [9.0, 1.0, 4.0]
    assert df["vector"].tolist()[0] == [0.0, 3.0, 6.0]
    rows = sweep(funcs.two_rows, {"x": [1.0, 5.0]}, progress=False)
    assert rows[["x", "k", "value"]].values.tolist() == [
        [1.0, 0, 1.0],
        [1.0, 1, 2.0],
        [5.0, 0, 5.0],
        [5.0, 1, 10.0],
    ]


def test_seeds_depend_on_the_point_not_on_its_position():
    points = grid(x=[0.0, 1.0, 2.0], y=[1.0, 2.0])
    forward = sweep(funcs.noisy_norm, points, seed=7, progress=False)
    backward = sweep(funcs.noisy_norm, points[::-1], seed=7, progress=False)
    merged = forward.merge(backward, on=["x", "y"], suffixes=("", "_b"))
    assert (merged["seed"] == merged["seed_b"]).all()
    assert (merged["noise"] == merged["noise_b"]).all()  # bit for bit
    assert forward["seed"].tolist() == [point_seed(7, p) for p in points]
    other = sweep(funcs.noisy_norm, points, seed=8, progress=False)
    assert not np.any(other["noise"].to_numpy() == forward["noise"].to_numpy())
    assert len(set(forward["seed"])) == len(points)


def test_joblib_workers_reproduce_the_serial_sweep_bit_for_bit():
    axes = {"x": [float(i) for i in range(8)], "y": [0.5, 2.0]}
    serial = sweep(funcs.noisy_norm, axes, seed=3, progress=False)
    parallel = sweep(funcs.noisy_norm, axes, seed=3, n_jobs=2, progress=False)
    pd.testing.assert_frame_equal(serial, parallel, check_exact=True)


def test_dask_local_cluster_reproduces_the_serial_sweep_and_resumes(tmp_path):
    distributed = pytest.importorskip("distributed")  # in the test extras: never skipped in CI
    axes = {"x": [float(i) for i in range(6)], "y": [1.0]}
    serial = sweep(funcs.noisy_norm, axes, progress=False)
    store = tmp_path / "dask.db"
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster,
        distributed.Client(cluster) as client,
    ):
        first = sweep(
            funcs.noisy_norm,
            {"x": axes["x"][:3], "y": [1.0]},
            scheduler=client,
            store=store,
            progress=False,
        )
        by_address = sweep(
            funcs.noisy_norm, axes, scheduler=cluster.scheduler_address, store=store, progress=False
        )
    assert len(first) == 3
    pd.testing.assert_frame_equal(serial, by_address, check_exact=True)
    assert len(load(store)) == 6


def test_store_resumes_without_recomputing(tmp_path):
    store, log = tmp_path / "s.db", tmp_path / "calls.log"
    axes = {"x": [1.0, 2.0, 3.0, 4.0], "y": [0.0], "log": [str(log)]}
    first = sweep(funcs.noisy_norm, axes, store=store, progress=False)
    again = sweep(funcs.noisy_norm, axes, store=store, progress=False)
    pd.testing.assert_frame_equal(first, again, check_exact=True)
    assert len(log.read_text().splitlines()) == 4  # the second run computed nothing
    wider = sweep(
        funcs.noisy_norm, {**axes, "x": [1.0, 2.0, 3.0, 4.0, 5.0]}, store=store, progress=False
    )
    assert len(log.read_text().splitlines()) == 5  # only the new point
    pd.testing.assert_frame_equal(wider.iloc[:4], first, check_exact=True)


def test_a_failing_point_keeps_the_finished_ones(tmp_path):
    store = tmp_path / "s.db"
    with pytest.raises(SweepPointError, match="x = 3 is refused") as info:
        sweep(funcs.fails_at_three, {"x": [1, 2, 3, 4]}, store=store, progress=False)
    assert info.value.point == {"x": 3}
    assert isinstance(info.value.__cause__, ValueError)
    assert sorted(load(store)["x"]) == [1, 2]
    recorded = sweep(
        funcs.fails_at_three, {"x": [1, 2, 3, 4]}, store=store, errors="record", progress=False
    )
    assert recorded["error"].isna().tolist() == [True, True, False, True]
    assert "ValueError: x = 3 is refused" in recorded["error"][2]
    assert np.isnan(recorded["value"][2])
    assert sorted(load(store)["x"]) == [1, 2, 4]  # the failed point is not "finished"


def test_ctrl_c_keeps_the_finished_points(tmp_path):
    store = tmp_path / "s.db"
    with pytest.raises(KeyboardInterrupt):
        sweep(funcs.interrupted_at_three, {"x": [1, 2, 3, 4]}, store=store, progress=False)
    assert load(store)["x"].tolist() == [1, 2]


def test_a_store_refuses_another_function_or_seed(tmp_path):
    store = tmp_path / "s.db"
    sweep(funcs.squares, {"x": [1.0]}, store=store, progress=False)
    with pytest.raises(InputError, match="function"):
        sweep(funcs.two_rows, {"x": [1.0]}, store=store, progress=False)
    with pytest.raises(InputError, match="seed"):
        sweep(funcs.squares, {"x": [1.0]}, store=store, seed=1, progress=False)


def test_a_store_in_use_is_refused(tmp_path):
    store = tmp_path / "s.db"
    with open(str(store) + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(StoreBusyError, match="in use by another sweep"):
            sweep(funcs.squares, {"x": [1.0]}, store=store, progress=False)
    assert len(sweep(funcs.squares, {"x": [1.0]}, store=store, progress=False)) == 1


def _stored(store: Path) -> int:
    try:
        with sqlite3.connect(store, timeout=30) as conn:
            return conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def _start(store, n_points, n_jobs, log):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(RUNNER), str(store), str(n_points), str(n_jobs), str(log)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # SIGKILL the whole group: parent and its joblib workers
    )


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_sigkill_at_random_points_loses_and_duplicates_nothing(tmp_path, n_jobs):
    n_points = 24
    store, log = tmp_path / "s.db", tmp_path / "calls.log"
    rng = np.random.default_rng(n_jobs)
    kills = 0
    for target in sorted(rng.choice(np.arange(2, n_points - 2), size=3, replace=False)):
        if _stored(store) >= target:
            continue
        proc = _start(store, n_points, n_jobs, log)
        deadline = time.monotonic() + 120
        while _stored(store) < target and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, proc.communicate()  # killed mid-sweep, not after it
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        assert _stored(store) >= target
    assert kills >= 2
    before = _stored(store)
    calls_before = len(log.read_text().splitlines())
    proc = _start(store, n_points, n_jobs, log)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    assert out.decode().strip() == str(n_points)
    # the final run computed only what was missing (points in flight at a kill are redone)
    assert len(log.read_text().splitlines()) - calls_before == n_points - before
    # nothing lost, nothing duplicated: every point once, with the right value and seed
    df = load(store)
    assert sorted(df["x"]) == [float(i) for i in range(n_points)]
    expected = sweep(
        funcs.noisy_norm,
        {"x": sorted(df["x"]), "y": [1.0], "log": [str(log)], "pause": [0.0]},
        progress=False,
    )
    got = df.sort_values("x").reset_index(drop=True)
    assert (got["norm"] == expected["norm"]).all()
    assert (got["seed"] != expected["seed"]).all()  # the seed depends on every parameter
    reference = sweep(
        funcs.noisy_norm,
        {"x": sorted(df["x"]), "y": [1.0], "log": [str(log)], "pause": [0.05]},
        progress=False,
    )
    assert (got["noise"] == reference["noise"]).all()
    assert (got["seed"] == reference["seed"]).all()


def test_a_seed_fixed_by_partial_is_not_overridden():
    import functools

    fixed = functools.partial(funcs.noisy_norm, seed=123)
    df = sweep(fixed, {"x": [1.0, 2.0], "y": [0.0]}, progress=False)
    expected = float(np.random.default_rng(123).standard_normal())
    assert (df["noise"] == expected).all()
