"""The sqlfluff gate bites: the project's style rules reject SQL written against them.

`make lint` checks every model and analysis with the dbt templater; here the same rules
(.sqlfluff) judge small snippets through the raw templater, so no dbt project is compiled.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SQLFLUFF = Path(sys.executable).with_name("sqlfluff")

GOOD = """with

orders as (
    select
        order_id,
        amount_eur
    from raw_orders
)

select * from orders
"""


def lint(sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SQLFLUFF), "lint", "-", "--templater", "raw", "--dialect", "duckdb"],
        input=sql,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )


def test_sql_in_the_project_style_passes():
    result = lint(GOOD)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    ("sql", "rule"),
    [
        (GOOD.replace("select\n", "SELECT\n"), "CP01"),  # upper-case keyword
        (GOOD.replace("        amount_eur\n", "        amount_eur,\n"), "CV03"),  # dangling comma
        (GOOD.replace("from raw_orders", "from raw_orders o"), "AL01"),  # implicit alias
        (GOOD.replace("    select\n", "  select\n"), "LT02"),  # 2-space indent
    ],
    ids=["upper-case-keyword", "comma-before-from", "implicit-alias", "indent"],
)
def test_sql_against_the_style_fails(sql, rule):
    result = lint(sql)
    assert result.returncode != 0
    assert rule in result.stdout
