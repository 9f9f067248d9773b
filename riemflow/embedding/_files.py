"""riemflow's `.npz` files (saved constructions, checkpoints): arrays beside a JSON `meta`
naming their format, written atomically and read back with that format checked."""

from __future__ import annotations

import json
import os

import numpy as np

from ..errors import InputError


def write_npz(path, meta: dict, **arrays) -> None:
    """Write `arrays` and `meta` (as JSON) to `path` through a temporary file and a rename:
    an interruption leaves the previous file intact."""
    tmp = f"{os.fspath(path)}.tmp.npz"
    np.savez(tmp, meta=np.array(json.dumps(meta)), **arrays)
    os.replace(tmp, path)


def read_npz(path, fmt: str, *, argument: str, what: str):
    """The arrays (a `NpzFile`) and the `meta` dict of a file of format `fmt`.

    Raises:
        InputError: naming `argument`, when `path` cannot be read or is not `what` (a file
            whose `meta` has another format).
    """
    try:
        data = np.load(path, allow_pickle=False)
        meta = json.loads(str(data["meta"]))
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"`{argument}` {path!r} is not {what} ({exc})", argument=argument) from exc
    if meta.get("format") != fmt:
        raise InputError(f"`{argument}` {path!r} is not {what}", argument=argument)
    return data, meta
