"""The mart comparison between engines: what counts as equal, and that it can fail."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from nps_warehouse.engines import Table, compare

COLUMNS = ["period_start", "segment", "responses", "revenue", "nps"]


def duck(*rows: tuple) -> Table:
    return Table(COLUMNS, list(rows), floats={"nps"})


def other(*rows: tuple) -> Table:
    return Table(COLUMNS, list(rows))


def test_rows_in_another_order_with_driver_types_and_float_noise_are_equal():
    expected = duck(
        (dt.date(2025, 1, 1), "SMB", 10, Decimal("120.50"), 20.0),
        (dt.date(2025, 1, 1), "All", 30, Decimal("300.00"), -1 / 3),
    )
    # Another driver: the rows in another order, decimals as Decimal with other scale, and a
    # float that differs in the 12th significant digit (well inside 1e-9 relative).
    actual = other(
        (dt.date(2025, 1, 1), "All", 30, Decimal("300"), -1 / 3 * (1 + 1e-12)),
        (dt.date(2025, 1, 1), "SMB", 10, Decimal("120.5"), 20.0),
    )
    assert compare("nps", expected, actual) == []


def test_a_float_off_by_more_than_1e_9_relative_differs():
    expected = duck((dt.date(2025, 1, 1), "SMB", 10, Decimal("1"), 20.0))
    actual = other((dt.date(2025, 1, 1), "SMB", 10, Decimal("1"), 20.0 * (1 + 1e-8)))
    (problem,) = compare("nps", expected, actual)
    assert problem.startswith("nps.nps at {'period_start': '2025-01-01'")


def test_a_count_off_by_one_a_missing_row_and_other_columns_differ():
    row = (dt.date(2025, 1, 1), "SMB", 10, Decimal("1"), 20.0)
    assert compare("nps", duck(row), other((*row[:2], 11, *row[3:])))
    assert "1 rows on DuckDB, 0 on the other engine" in compare("nps", duck(row), other())[0]
    renamed = Table([*COLUMNS[:-1], "nps_value"], [row])
    assert "columns differ" in compare("nps", duck(row), renamed)[0]


def test_null_equals_null_but_not_zero():
    row = (dt.date(2025, 1, 1), "SMB", 0, Decimal("0"), None)
    assert compare("nps", duck(row), other(row)) == []
    assert compare("nps", duck(row), other((*row[:4], 0.0)))
