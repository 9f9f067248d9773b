"""Markdown tables of results: every cell readable back, nothing Markdown would misread."""

import markdown
import numpy as np
import pandas as pd
import pytest

from riemflow.errors import InputError
from riemflow.experiments.tables import markdown_table


def _cells(text):
    rows = [line.strip().strip("|") for line in text.splitlines()]
    return [[c.strip() for c in row.split(" | ")] for row in rows]


def test_numbers_at_significant_digits_and_flags_as_words():
    df = pd.DataFrame(
        {
            "claim": ["a", "b", "c"],
            "riemflow": [1.234567e-8, 0.018834, 123456.0],
            "n": [1, 20, 300],
            "tolerance": [1e-6, "< 1", np.nan],
            "agrees": [True, False, True],
        }
    )
    text = markdown_table(df)
    rows = _cells(text)
    assert rows[0] == ["claim", "riemflow", "n", "tolerance", "agrees"]
    assert text.splitlines()[1] == "|:--|--:|--:|:--|:--|"  # numbers right-aligned
    assert rows[2:] == [
        ["a", "1.23e-8", "1", "1e-6", "yes"],
        ["b", "0.0188", "20", "&lt; 1", "no"],
        ["c", "1.23e5", "300", "", "yes"],
    ]
    assert _cells(markdown_table(df, digits=5))[2][1] == "1.2346e-8"


def test_text_markdown_would_misread_is_escaped():
    df = pd.DataFrame({"claim": ["|w|_1 / |w_BP|_1 - 1", "u_1 * ... * u_L", "two\nlines"]})
    html = markdown.markdown(markdown_table(df), extensions=["tables"])
    assert html.count("<tr>") == 4  # the pipes did not split cells
    assert "|w|_1 / |w_BP|_1 - 1" in html and "u_1 * ... * u_L" in html
    assert "<em>" not in html and "two lines" in html


def test_pivot_tables_keep_their_index_and_name_their_column_levels():
    df = pd.DataFrame(
        {"alpha": [0.1, 0.1, 1.0, 1.0], "depth": [2, 3, 2, 3], "l1": [1.0, 2.0, 3.0, 4.0]}
    )
    pivot = df.pivot_table(index="alpha", columns="depth", values=["l1"])
    rows = _cells(markdown_table(pivot))
    assert rows[0] == ["alpha", "l1 (depth = 2)", "l1 (depth = 3)"]
    assert rows[2:] == [["0.1", "1", "2"], ["1", "3", "4"]]
    by_depth = df.pivot_table("l1", index="alpha", columns="depth")
    assert _cells(markdown_table(by_depth))[0] == ["alpha", "depth = 2", "depth = 3"]
    filtered = df[df["depth"] == 3]  # row numbers 1, 3: not an index worth writing
    assert _cells(markdown_table(filtered))[0] == ["alpha", "depth", "l1"]


@pytest.mark.parametrize("bad", [[1, 2], "table", None])
def test_refuses_what_is_not_a_dataframe(bad):
    with pytest.raises(InputError, match="DataFrame"):
        markdown_table(bad)
