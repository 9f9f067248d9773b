"""Parameter sweeps: a grid of points mapped over a function, in parallel, resumable.

`sweep(fn, grid)` calls `fn(**point)` for every point of the grid, with joblib worker
processes on this machine (`n_jobs`) or on a Dask distributed cluster (`scheduler`), and
returns the results as one tidy `pandas.DataFrame`: the point's parameters, its `seed`, and
the columns `fn` returned.

With `store=path`, every finished point is written to a SQLite file, in one transaction,
by the process that started the sweep, as soon as it arrives. A sweep interrupted in any
way (Ctrl-C, a `SIGKILL`, a crashed worker) therefore keeps every point that finished, and a
re-run with the same store computes only the points that are missing: nothing is lost and
nothing is computed twice. A point is identified by its parameters (not by its position in
the grid), so a grid can be extended and re-run. A store records the function and base seed
that filled it and refuses a sweep with another one, and a store is locked while a sweep
writes to it (a second concurrent sweep on it raises `StoreBusyError`; the lock is released
when the process ends, however it ends).

Seeds: a function with a `seed` parameter gets a per-point seed derived from the base
`seed` and the point's parameters (SHA-256), independent of the grid's order, the worker
and the backend, so a seeded sweep reproduces bit-for-bit; the seed is in every result row.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import inspect
import itertools
import json
import math
import numbers
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from .errors import InputError, StoreBusyError, SweepPointError

__all__ = ["grid", "sweep", "load", "point_seed", "StoreBusyError", "SweepPointError"]

_SCHEMA_VERSION = "1"


def grid(**axes: Sequence) -> list[dict]:
    """The cartesian product of named axes, as a list of points (dicts), last axis fastest.

    Args:
        **axes: name -> non-empty sequence of JSON scalars (float, int, str, bool, None).

    Returns:
        One dict per combination, in `itertools.product` order.

    Examples:
        >>> for point in grid(depth=[2, 3], alpha=[0.1, 1.0]):
        ...     print(point)
        {'depth': 2, 'alpha': 0.1}
        {'depth': 2, 'alpha': 1.0}
        {'depth': 3, 'alpha': 0.1}
        {'depth': 3, 'alpha': 1.0}
    """
    names = list(axes)
    for name, values in axes.items():
        if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
            raise InputError(
                f"grid axis `{name}` must be a sequence of values; got {values!r}", argument=name
            )
        if len(values) == 0:
            raise InputError(f"grid axis `{name}` is empty", argument=name)
    return [
        {name: _json_scalar(v, f"grid axis `{name}`") for name, v in zip(names, combo, strict=True)}
        for combo in itertools.product(*axes.values())
    ]


def point_seed(seed: int, point: Mapping) -> int:
    """The seed `sweep` gives the point `point` of a sweep with base seed `seed`.

    A 63-bit integer from SHA-256 of the base seed and the point's canonical JSON: the same
    on every machine, worker and backend, and unrelated for neighbouring points.
    """
    digest = hashlib.sha256(f"{int(seed)}|{_key(point)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def sweep(
    fn: Callable[..., Mapping | Sequence[Mapping]],
    grid: Mapping[str, Sequence] | Sequence[Mapping],
    *,
    store: str | os.PathLike | None = None,
    n_jobs: int = 1,
    scheduler=None,
    seed: int = 0,
    progress: bool = True,
    desc: str | None = None,
    errors: str = "raise",
):
    """Map `fn` over a grid of parameter points, in parallel, resumably.

    Args:
        fn: a module-level function (workers receive it pickled) called as `fn(**point)`,
            plus `seed=point_seed(seed, point)` if it has a `seed` parameter that neither
            the point nor a `functools.partial` sets. It returns a mapping of result names
            to JSON-able values (one result row), or a sequence of such mappings or a
            DataFrame (several rows).
            NumPy scalars and arrays are converted to Python numbers and lists.
        grid: a mapping name -> sequence of values (their cartesian product, as `grid()`),
            or a sequence of points (dicts of JSON scalars). Points must be distinct.
        store: path of a SQLite results store (created if absent; its directory must
            exist). Finished points found there are not recomputed.
        n_jobs: joblib worker processes on this machine; 1 runs in this process, -1 uses
            every core. Ignored when `scheduler` is given.
        scheduler: a Dask distributed scheduler address (`"tcp://host:8786"`) or a
            `distributed.Client`: run the points on that cluster instead of joblib.
        seed: base seed of the per-point seeds.
        progress: show a tqdm progress bar (completed / total, resumed points included).
        desc: label of the progress bar.
        errors: `"raise"` (default): the first exception of `fn` stops the sweep (finished
            points stay in the store) and is raised as `SweepPointError` naming the point.
            `"record"`: the failure is kept in an `error` column and the sweep goes on; failed
            points are retried by the next run on the same store.

    Returns:
        A `pandas.DataFrame`, one row per result row, in grid order: the point's parameters,
        `seed`, then the result columns (plus `error` when `errors="record"`).

    Raises:
        InputError: a bad grid, argument, or a store filled by another function or seed.
        StoreBusyError: another sweep is writing to `store`.
        SweepPointError: `fn` raised at a point (with `errors="raise"`).

    Examples:
        >>> import numpy as np
        >>> from riemflow.sweep import sweep
        >>> def norm(x, y, seed):
        ...     noise = np.random.default_rng(seed).normal(scale=1e-3)
        ...     r = float(np.hypot(x, y))
        ...     return {"norm": r, "noisy": r + noise}
        >>> df = sweep(norm, {"x": [3.0, 5.0], "y": [4.0, 12.0]}, progress=False)
        >>> print(df[["x", "y", "norm"]].to_string(index=False))
          x    y      norm
        3.0  4.0  5.000000
        3.0 12.0 12.369317
        5.0  4.0  6.403124
        5.0 12.0 13.000000
    """
    import pandas as pd

    points = _as_points(grid)
    if not callable(fn):
        raise InputError(f"`fn` must be callable; got {fn!r}", argument="fn")
    if errors not in ("raise", "record"):
        raise InputError(f"`errors` must be 'raise' or 'record'; got {errors!r}", argument="errors")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise InputError(f"`seed` must be an integer; got {seed!r}", argument="seed")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise InputError(f"`n_jobs` must be a non-zero integer; got {n_jobs!r}", argument="n_jobs")
    try:
        wants_seed = "seed" in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        wants_seed = False
    if isinstance(fn, functools.partial) and "seed" in fn.keywords:
        wants_seed = False  # the caller fixed it
    tasks = []
    for point in points:
        pseed = int(point["seed"]) if "seed" in point else point_seed(seed, point)
        kwargs = dict(point)
        if wants_seed and "seed" not in point:
            kwargs["seed"] = pseed
        tasks.append(_Task(_key(point), point, pseed, kwargs))
    _check_signature(fn, tasks[0].kwargs)

    with _open_store(store, fn, seed) as db:
        done = db.finished() if db is not None else {}
        results: dict[str, _Outcome] = {k: done[k] for k in done if k in {t.key for t in tasks}}
        todo = [t for t in tasks if t.key not in results]
        bar = _progress_bar(len(tasks), len(tasks) - len(todo), desc or _name(fn), progress)
        try:
            for outcome in _execute(fn, todo, n_jobs, scheduler):
                if outcome.error is not None and errors == "raise":
                    task = next(t for t in todo if t.key == outcome.key)
                    raise SweepPointError(
                        f"{_name(fn)} failed at sweep point {task.point} "
                        f"(seed {task.seed}):\n{outcome.error}",
                        point=task.point,
                    ) from outcome.exception
                if db is not None:
                    db.write(outcome)
                results[outcome.key] = outcome
                bar.update(1)
        except KeyboardInterrupt as exc:  # what was saved, for the caller to report
            exc.riemflow_saved = (len(results), len(tasks), None if store is None else str(store))
            raise
        finally:
            bar.close()

    rows = []
    for task in tasks:
        outcome = results[task.key]
        if outcome.error is not None:
            rows.append({**task.point, "seed": task.seed, "error": outcome.error})
            continue
        for row in outcome.rows:
            rows.append({**task.point, "seed": task.seed, **row})
    frame = pd.DataFrame(rows)
    if errors == "record" and "error" not in frame.columns:
        frame["error"] = None
    return frame


def load(store: str | os.PathLike):
    """Every finished point of a results store as a DataFrame (parameters, seed, results).

    Rows come in the order the points finished; failed points (from `errors="record"`)
    are not included. Reading does not take the store's lock.
    """
    import pandas as pd

    path = Path(store)
    if not path.is_file():
        raise InputError(f"`store` {str(path)!r} is not a file", argument="store")
    conn = sqlite3.connect(path)
    try:
        found = conn.execute(
            "SELECT params, seed, rows FROM points WHERE error IS NULL ORDER BY finished_at, rowid"
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        raise InputError(
            f"`store` {str(path)!r} is not a riemflow results store ({exc})", argument="store"
        ) from exc
    finally:
        conn.close()
    rows = []
    for params, pseed, stored in found:
        point = json.loads(params)
        rows.extend({**point, "seed": pseed, **row} for row in json.loads(stored))
    return pd.DataFrame(rows)


# --- points and results ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Task:
    key: str
    point: dict
    seed: int
    kwargs: dict


@dataclasses.dataclass
class _Outcome:
    key: str
    seed: int
    rows: list[dict]
    error: str | None = None
    seconds: float = 0.0
    exception: BaseException | None = None


def _json_scalar(value, where: str):
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        if not math.isfinite(value):
            raise InputError(f"{where} has a non-finite value {value!r}", argument="grid")
        return value
    raise InputError(
        f"{where} must hold JSON scalars (float, int, str, bool, None); got {value!r} "
        f"of type {type(value).__name__}",
        argument="grid",
    )


def _as_points(grid_) -> list[dict]:
    if isinstance(grid_, Mapping):
        points = grid(**grid_)
    elif isinstance(grid_, Sequence) and not isinstance(grid_, str | bytes):
        points = []
        for i, point in enumerate(grid_):
            if not isinstance(point, Mapping):
                raise InputError(
                    f"`grid` point {i} must be a dict of parameters; got {point!r}",
                    argument="grid",
                )
            points.append({str(k): _json_scalar(v, f"`grid` point {i}") for k, v in point.items()})
    else:
        raise InputError(
            f"`grid` must be a dict of axes or a list of points; got {grid_!r}", argument="grid"
        )
    if not points:
        raise InputError("`grid` has no points", argument="grid")
    keys = [_key(p) for p in points]
    if len(set(keys)) != len(keys):
        dup = next(p for p, k in zip(points, keys, strict=True) if keys.count(k) > 1)
        raise InputError(f"`grid` has the point {dup} more than once", argument="grid")
    return points


def _key(point: Mapping) -> str:
    return json.dumps(point, sort_keys=True, separators=(",", ":"))


def _name(fn) -> str:
    """A stable name of `fn` (stored with the results; no memory addresses)."""
    if isinstance(fn, functools.partial):
        fixed = json.dumps(_clean(fn.keywords), sort_keys=True, default=repr)
        return f"{_name(fn.func)}(*{_clean(list(fn.args))!r}, **{fixed})"
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"


def _check_signature(fn, point: Mapping) -> None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        sig.bind(**point)
    except TypeError as exc:
        raise InputError(
            f"`fn` must accept keyword arguments {', '.join(point)} "
            f"({getattr(fn, '__name__', fn)} does not: {exc})",
            argument="fn",
        ) from exc


def _clean(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _as_rows(result) -> list[dict]:
    if hasattr(result, "to_dict") and hasattr(result, "columns"):  # a DataFrame
        result = result.to_dict(orient="records")
    if isinstance(result, Mapping):
        result = [result]
    if not isinstance(result, Sequence) or not all(isinstance(r, Mapping) for r in result):
        raise InputError(
            f"`fn` must return a dict of results or a list of dicts; got {type(result).__name__}",
            argument="fn",
        )
    return [{str(k): _clean(v) for k, v in row.items()} for row in result]


def _call(fn, task: _Task) -> _Outcome:
    """Runs in a worker: never raises, so one failed point cannot take the pool down."""
    import traceback

    start = time.perf_counter()
    try:
        rows = _as_rows(fn(**task.kwargs))
        json.dumps(rows)  # fail here, in the worker, on values the store cannot hold
    except Exception as exc:
        return _Outcome(
            task.key,
            task.seed,
            [],
            error=f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}",
            seconds=time.perf_counter() - start,
            exception=exc,
        )
    return _Outcome(task.key, task.seed, rows, seconds=time.perf_counter() - start)


def _execute(fn, todo: list[_Task], n_jobs: int, scheduler) -> Iterator[_Outcome]:
    if not todo:
        return
    if scheduler is not None:
        yield from _execute_dask(fn, todo, scheduler)
    elif n_jobs == 1:
        for task in todo:
            yield _call(fn, task)
    else:
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        yield from parallel(delayed(_call)(fn, task) for task in todo)


def _execute_dask(fn, todo: list[_Task], scheduler) -> Iterator[_Outcome]:
    try:
        from distributed import Client, as_completed
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise InputError(
            "`scheduler` needs dask.distributed: pip install 'riemflow[dask]'",
            argument="scheduler",
        ) from exc
    own = not isinstance(scheduler, Client)
    client = Client(scheduler) if own else scheduler
    try:
        futures = [client.submit(_call, fn, task, pure=False) for task in todo]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            client.cancel([f for f in futures if not f.done()])
    finally:
        if own:
            client.close()


def _progress_bar(total: int, initial: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="point", disable=not enabled)


# --- the on-disk store ------------------------------------------------------------------


class _Store:
    """A SQLite table of finished points; one transaction per point."""

    def __init__(self, path: Path, fn, seed: int):
        self.path = path
        self.conn = sqlite3.connect(path, timeout=60.0, isolation_level=None)
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            with self.conn:
                self.conn.execute("BEGIN IMMEDIATE")
                self.conn.execute(
                    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)"
                )
                self.conn.execute(
                    "CREATE TABLE IF NOT EXISTS points (key TEXT PRIMARY KEY, params TEXT NOT NULL,"
                    " seed INTEGER NOT NULL, rows TEXT NOT NULL, error TEXT, seconds REAL,"
                    " finished_at REAL, host TEXT, pid INTEGER)"
                )
                meta = dict(self.conn.execute("SELECT name, value FROM meta"))
                expected = {"schema": _SCHEMA_VERSION, "function": _name(fn), "seed": str(seed)}
                for name, value in expected.items():
                    if name in meta and meta[name] != value:
                        raise InputError(
                            f"`store` {str(path)!r} holds a sweep with {name} {meta[name]!r}, "
                            f"not {value!r}: use another store for this sweep",
                            argument="store",
                        )
                    self.conn.execute(
                        "INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)", (name, value)
                    )
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise InputError(
                f"`store` {str(path)!r} is not a riemflow results store ({exc})", argument="store"
            ) from exc
        except BaseException:
            self.conn.close()
            raise

    def finished(self) -> dict[str, _Outcome]:
        found = self.conn.execute(
            "SELECT key, seed, rows, seconds FROM points WHERE error IS NULL"
        ).fetchall()
        return {k: _Outcome(k, sd, json.loads(rows), seconds=s or 0.0) for k, sd, rows, s in found}

    def write(self, outcome: _Outcome) -> None:
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute(
                "INSERT OR REPLACE INTO points (key, params, seed, rows, error, seconds,"
                " finished_at, host, pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    outcome.key,
                    outcome.key,
                    outcome.seed,
                    json.dumps(outcome.rows),
                    outcome.error,
                    outcome.seconds,
                    time.time(),
                    socket.gethostname(),
                    os.getpid(),
                ),
            )

    def close(self) -> None:
        self.conn.close()


@contextlib.contextmanager
def _open_store(store, fn, seed: int):
    if store is None:
        yield None
        return
    path = Path(store)
    if not path.parent.is_dir():
        raise InputError(
            f"`store` {str(path)!r}: directory {str(path.parent)!r} does not exist",
            argument="store",
        )
    lock_path = path.with_name(path.name + ".lock")
    lock = _acquire(lock_path, path)
    try:
        db = _Store(path, fn, seed)
        try:
            yield db
        finally:
            db.close()
    finally:
        # removed while still held, so a sweep that opened the old file re-checks and
        # retries on a new one (see `_acquire`); the lock dies with the process anyway
        with contextlib.suppress(OSError):
            lock_path.unlink()
        lock.close()


def _acquire(lock_path: Path, path: Path):
    """An exclusive `fcntl` lock on `lock_path`, or `StoreBusyError`. A lock file can be
    removed by the sweep holding it when it ends; a lock taken on a removed file is
    released and taken again on the current one."""
    import fcntl

    for _ in range(100):
        lock = open(lock_path, "a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise StoreBusyError(
                f"`store` {str(path)!r} is in use by another sweep (lock {str(lock_path)!r}); "
                "wait for it to finish or use another store",
                store=str(path),
            ) from None
        try:
            current = os.stat(lock_path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(lock.fileno()).st_ino:
            return lock
        lock.close()  # the file was removed by the sweep that held it: take the new one
    raise StoreBusyError(f"could not lock {str(lock_path)!r}", store=str(path))
