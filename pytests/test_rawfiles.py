"""Deliveries and the raw store, on small real files: the structural check, intake into
Parquet, commit and discard, and the GDPR scrub."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from nps_warehouse import rawfiles

RESPONSES = "response_id,customer_id,responded_at,score,channel,comment\n"
CUSTOMERS = "customer_id,company_name,contact_email,segment,country,signup_date\n"
LOADED = datetime(2026, 7, 1, 3, 0, tzinfo=UTC)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def rows(path: Path) -> list[tuple]:
    with duckdb.connect() as connection:
        return connection.execute(f"select * from read_parquet('{path}') order by all").fetchall()


def test_a_file_is_matched_to_its_table_by_name(tmp_path):
    path = write(
        tmp_path / "raw_survey_responses_2026-07.csv", RESPONSES + "R1,C1,2026-07-01,9,web,\n"
    )
    assert rawfiles.check_file(path).table == "raw_survey_responses"
    with pytest.raises(rawfiles.RawFileError, match="not a raw file"):
        rawfiles.check_file(write(tmp_path / "orders.csv", RESPONSES))


def test_an_extra_column_is_refused_and_other_files_are_not_data(tmp_path):
    write(tmp_path / "d" / "raw_erasure_requests.csv", "customer_id,requested_at,note\nC,d,n\n")
    write(tmp_path / "d" / "raw_erasure_requests.yml", "seeds: []\n")
    with pytest.raises(rawfiles.RawFileError, match="'note' is not a column"):
        rawfiles.check_delivery(tmp_path / "d")


def test_intake_writes_text_columns_by_name_with_load_time_and_batch(tmp_path):
    delivery = tmp_path / "delivery"
    write(delivery / "raw_erasure_requests.csv", "requested_at,customer_id\n2026-07-01, cust-1 \n")
    write(delivery / "raw_erasure_requests_more.csv", "customer_id,requested_at\nC2,\n")
    write(delivery / "raw_customers.csv", CUSTOMERS)  # a header only: nothing this time
    store = rawfiles.RawStore(tmp_path / "store")
    batch = store.take_in(rawfiles.check_delivery(delivery), "B1", LOADED)
    assert batch.rows == {"raw_erasure_requests": 2}
    assert rows(store.batch_file("raw_erasure_requests", "B1")) == [
        (" cust-1 ", "2026-07-01", LOADED, "B1"),
        ("C2", None, LOADED, "B1"),
    ]
    assert store.committed() == []
    store.commit(batch)
    assert [b.batch_id for b in store.committed()] == ["B1"]
    assert store.erased_ids() == {"CUST-1", "C2"}
    assert store.find(rawfiles.fingerprint(rawfiles.check_delivery(delivery))) == batch


def test_uncommitted_batches_are_discarded(tmp_path):
    delivery = tmp_path / "delivery"
    write(delivery / "raw_survey_responses.csv", RESPONSES + "R1,C1,2026-07-01,9,web,gut\n")
    store = rawfiles.RawStore(tmp_path / "store")
    committed = store.take_in(rawfiles.check_delivery(delivery), "B1", LOADED)
    store.commit(committed)
    store.take_in(rawfiles.check_delivery(delivery), "B2", LOADED)
    assert [path.name for path in store.discard_uncommitted()] == ["B2.parquet"]
    assert sorted(p.name for p in store.table_folder("raw_survey_responses").iterdir()) == [
        "B1.parquet",
        rawfiles.SCHEMA_FILE,
    ]


def test_scrub_blanks_only_the_erased_customers_personal_data(tmp_path):
    delivery = tmp_path / "delivery"
    write(
        delivery / "raw_customers.csv",
        CUSTOMERS
        + "CUST-1,Alpha GmbH,a@alpha.de,SMB,DE,2024-01-01\n"
        + " cust-2 ,Beta AG,b@beta.ch,SMB,CH,2024-01-01\n",
    )
    write(delivery / "raw_survey_responses.csv", RESPONSES + "R1,CUST-1,2026-07-01,9,web,gut\n")
    store = rawfiles.RawStore(tmp_path / "store")
    store.commit(store.take_in(rawfiles.check_delivery(delivery), "B1", LOADED))
    assert store.scrub({"CUST-2"}) == [store.batch_file("raw_customers", "B1")]
    assert [row[:6] for row in rows(store.batch_file("raw_customers", "B1"))] == [
        (" cust-2 ", None, None, "SMB", "CH", "2024-01-01"),
        ("CUST-1", "Alpha GmbH", "a@alpha.de", "SMB", "DE", "2024-01-01"),
    ]
    assert rows(store.batch_file("raw_customers", "B1"))[0][6:] == (LOADED, "B1")
    assert store.scrub({"CUST-2"}) == [], "already scrubbed"
