"""Results tables as Markdown: what the docs pages print from `run` and `compare`.

`pandas.DataFrame.to_string` lays a table out in fixed-width text that a web page or a
report cannot reflow; `markdown_table` writes a Markdown table instead (rendered as an HTML
table by MkDocs, GitHub and Jupyter) with numbers at a few significant digits.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._validation import as_positive_int
from ..errors import InputError

__all__ = ["markdown_table"]


def _number(value: float, digits: int) -> str:
    text = f"{value:.{digits}g}"
    mantissa, e, exponent = text.partition("e")
    return f"{mantissa}e{int(exponent)}" if e else text  # 1e-05 -> 1e-5, 1e+20 -> 1e20


def _cell(value, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return _number(float(value), digits)
    text = " ".join(str(value).split())  # one line per row
    for char, escaped in (("\\", "\\\\"), ("|", "\\|"), ("*", "\\*"), ("<", "&lt;")):
        text = text.replace(char, escaped)
    return text


def _header(column, names) -> str:
    if not isinstance(column, tuple):
        named = names[0] is not None and not isinstance(column, str)
        return f"{names[0]} = {_cell(column, 6)}" if named else _cell(column, 6)
    head, *rest = column
    levels = [
        f"{name} = {_cell(value, 6)}" if name else _cell(value, 6)
        for name, value in zip(names[1:], rest, strict=True)
        if _cell(value, 6)  # the index columns of a pivot table have empty lower levels
    ]
    return f"{_cell(head, 6)} ({', '.join(levels)})" if levels else _cell(head, 6)


def markdown_table(df, *, digits: int = 3, index: bool | None = None) -> str:
    """A DataFrame as a Markdown table, numbers at `digits` significant digits.

    Floats are written with `digits` significant digits (`1.23e-8`, `0.0188`), integers in
    full, booleans as yes/no and missing values as empty cells; text is kept on one line
    with the characters Markdown would read (`|`, `*`, `<`, `\\`) escaped. Numeric columns
    are right-aligned. The columns of a pivot table get headers like `alpha = 0.1`, or
    `l1 (depth = 2)` for several levels; headers may break after an underscore (`<wbr>`),
    so that a table of many long column names still fits a page.

    Args:
        df: the table (`pandas.DataFrame`).
        digits: significant digits of floats.
        index: whether to write the index as the first column(s); default: when it has a
            name (a pivot table's index is written, a filtered table's row numbers are not).

    Returns:
        The table, one row per line.

    Raises:
        InputError: `df` is not a DataFrame.

    Examples:
        >>> import pandas as pd
        >>> from riemflow.experiments.tables import markdown_table
        >>> df = pd.DataFrame({"claim": ["|w|_1 -> min"], "riemflow": [1.234567e-8],
        ...                    "agrees": [True]})
        >>> print(markdown_table(df))
        | claim | riemflow | agrees |
        |:--|--:|:--|
        | \\|w\\|_1 -> min | 1.23e-8 | yes |
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise InputError(f"`df` must be a pandas DataFrame; got {type(df).__name__}", argument="df")
    digits = as_positive_int(digits, "digits")
    if index is None:
        index = any(name is not None for name in df.index.names)
    names = list(df.columns.names)
    headers = [_header(c, names) for c in df.columns]
    if index:
        headers = [_cell(n if n is not None else "", 6) for n in df.index.names] + headers
        df = df.reset_index()
    headers = [h.replace("_", "_<wbr>") for h in headers]  # long names may break there
    numeric = [
        pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
        for c in df.columns
    ]
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("--:" if n else ":--" for n in numeric) + "|",
    ]
    for row in df.itertuples(index=False, name=None):
        lines.append("| " + " | ".join(_cell(v, digits) for v in row) + " |")
    return "\n".join(lines)
