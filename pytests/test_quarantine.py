"""The built warehouse routes every documented dirty seed row to its documented fate.

Reads the DuckDB file that `dbt build` wrote (read-only), so run it after the build, as
`make test` does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nps_warehouse import generator

REPO = Path(__file__).resolve().parents[1]

# table -> (checked model, the raw id as delivered: an accepted row stores no raw id that reads
# exactly as its clean one, macro kept_raw_columns)
CHECKED = {
    "raw_customers": ("stg_customers_checked", "raw_customer_id"),
    "raw_orders": ("stg_orders_checked", "coalesce(raw_order_id, order_id)"),
    "raw_survey_responses": (
        "stg_survey_responses_checked",
        "coalesce(raw_response_id, response_id)",
    ),
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> generator.Generated:
    out = tmp_path_factory.mktemp("seeds")
    return generator.generate(generator.GeneratorConfig(), out, log=lambda _: None)


def test_committed_seeds_are_the_generators_output(dataset):
    for table, path in dataset.paths.items():
        committed = REPO / "seeds" / f"{table}.csv"
        assert committed.read_bytes() == path.read_bytes(), (
            f"{committed} is stale: run `make seeds` and commit the result"
        )


def _fates(warehouse, table: str, row_id: str) -> list[str | None]:
    model, id_column = CHECKED[table]
    if row_id == "":
        condition, params = f"nullif(trim({id_column}), '') is null", []
    else:
        condition, params = f"{id_column} = ?", [row_id]
    rows = warehouse.execute(
        f"select reason from staging.{model} where {condition}", params
    ).fetchall()
    return [reason for (reason,) in rows]


def test_every_dirty_row_meets_its_documented_fate(dataset, warehouse):
    assert dataset.dirty, "the default demo data must include dirty rows"
    for dirty in dataset.dirty:
        fates = _fates(warehouse, dirty.table, dirty.row_id)
        assert fates, f"{dirty} is not in the warehouse"
        expected = None if dirty.expected == "staged" else dirty.expected
        assert expected in fates, f"{dirty}: found fates {fates}"


def test_nothing_is_rejected_beyond_the_documented_dirty_rows(dataset, warehouse):
    for table, (model, _) in CHECKED.items():
        documented = sum(
            1 for dirty in dataset.dirty if dirty.table == table and dirty.expected != "staged"
        )
        rejected_model = model.removesuffix("_checked") + "_rejected"
        (rejected,) = warehouse.execute(f"select count(*) from staging.{rejected_model}").fetchone()
        assert rejected == documented, f"{rejected_model}: {rejected} rows, {documented} documented"


def test_every_rejected_row_has_a_readable_reason(warehouse):
    for model, _ in CHECKED.values():
        rejected_model = model.removesuffix("_checked") + "_rejected"
        blank = warehouse.execute(
            f"select count(*) from staging.{rejected_model} where coalesce(trim(reason), '') = ''"
        ).fetchone()[0]
        assert blank == 0
