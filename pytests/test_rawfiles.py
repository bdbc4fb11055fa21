"""Raw deliveries: the structural check and the GDPR scrub, on small real files and tables."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from nps_warehouse import rawfiles


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_file_is_matched_to_its_table_by_name(tmp_path):
    header = "response_id,customer_id,responded_at,score,channel,comment\n"
    path = write(
        tmp_path / "raw_survey_responses_2026-07.csv", header + "R1,C1,2026-07-01,9,web,\n"
    )
    assert rawfiles.check_file(path).table == "raw_survey_responses"
    with pytest.raises(rawfiles.RawFileError, match="not a raw file"):
        rawfiles.check_file(write(tmp_path / "orders.csv", header))


def test_columns_in_another_order_are_loaded_by_name(tmp_path):
    path = write(
        tmp_path / "raw_erasure_requests.csv", "requested_at,customer_id\n2026-07-01, cust-1 \n"
    )
    with duckdb.connect() as connection:
        rawfiles.create_raw_tables(connection)
        loaded = rawfiles.load(connection, [rawfiles.check_file(path)])
        assert loaded == {"raw_erasure_requests": 1}
        assert connection.execute(
            "select customer_id, requested_at, _loaded_at is not null from raw.raw_erasure_requests"
        ).fetchall() == [(" cust-1 ", "2026-07-01", True)]
        assert rawfiles.erased_ids(connection) == {"CUST-1"}


def test_an_extra_column_is_refused(tmp_path):
    path = write(tmp_path / "raw_erasure_requests.csv", "customer_id,requested_at,note\nC,d,n\n")
    with pytest.raises(rawfiles.RawFileError, match="'note' is not a column"):
        rawfiles.check_file(path)


def test_scrub_blanks_only_the_erased_customers_personal_data(tmp_path):
    path = write(
        tmp_path / "raw_customers.csv",
        "customer_id,company_name,contact_email,segment,country,signup_date\n"
        "CUST-1,Alpha GmbH,a@alpha.de,SMB,DE,2024-01-01\n"
        " cust-2 ,Beta AG,b@beta.ch,SMB,CH,2024-01-01\n",
    )
    assert rawfiles.scrub_file(rawfiles.check_file(path), {"CUST-2"})
    assert path.read_text().splitlines()[1:] == [
        "CUST-1,Alpha GmbH,a@alpha.de,SMB,DE,2024-01-01",
        " cust-2 ,,,SMB,CH,2024-01-01",
    ]
    assert not rawfiles.scrub_file(rawfiles.check_file(path), {"CUST-2"}), "already scrubbed"
