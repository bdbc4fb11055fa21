"""The dashboard: rendered from the built warehouse, opened in headless Chromium, checked.

Needs the warehouse `dbt build` wrote, Debian's chromium (`scripts/browser-up`) and, for the
blind-spot comparison, the compiled analyses (`dbt compile --select resource_type:analysis`,
as `make test` does). Saves a full-page screenshot to target/dashboard.png.
"""

from __future__ import annotations

import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from plotly.offline import get_plotlyjs, get_plotlyjs_version

from conftest import REPO, warehouse_path
from nps_warehouse import cli, dashboard

SCREENSHOT = REPO / "target" / "dashboard.png"
BLIND_SPOTS_ANALYSIS = REPO / "target/compiled/nps_warehouse/analyses/blind_spots.sql"


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dashboard") / "dashboard.html"
    dashboard.render(warehouse_path(), out)
    return out


@pytest.fixture(scope="module")
def browser_check(page: Path) -> dashboard.BrowserCheck:
    try:
        return dashboard.check_in_browser(page, screenshot=SCREENSHOT)
    except dashboard.DashboardError as error:
        pytest.fail(f"{error}; the dashboard test needs it")


@pytest.fixture(scope="module")
def drawn(page: Path, browser_check: dashboard.BrowserCheck) -> dict[str, list[dict]]:
    """Per chart, the traces Plotly drew (after decoding): name, meta, x, y, table cells."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=dashboard.chromium_path())
        tab = browser.new_page()
        tab.goto(page.resolve().as_uri(), wait_until="load")
        traces = tab.evaluate(
            """() => Object.fromEntries(
                [...document.querySelectorAll('div.plotly-graph-div')].map(div => [
                    div.id,
                    div._fullData.map(trace => ({
                        name: trace.name ?? null,
                        meta: trace.meta ?? null,
                        x: Array.from(trace.x ?? [], String),
                        y: Array.from(trace.y ?? [], v => (v === null ? NaN : Number(v))),
                        cells: (trace.cells?.values ?? []).map(column => Array.from(column)),
                    })),
                ])
            )"""
        )
        browser.close()
    return traces


def test_every_chart_renders_without_errors_offline(browser_check: dashboard.BrowserCheck):
    assert browser_check.errors == []
    assert browser_check.blocked_requests == []
    assert browser_check.chart_containers == len(dashboard.CHARTS)
    assert browser_check.rendered_charts == len(dashboard.CHARTS)


def test_screenshot_is_a_full_page_png_1200_px_wide(browser_check: dashboard.BrowserCheck):
    header = SCREENSHOT.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    assert width == 1200
    assert height > 900 * 2, "a full-page screenshot is taller than one viewport"


def test_plotly_js_is_inlined_once_and_nothing_is_fetched(page: Path):
    text = page.read_text(encoding="utf-8")
    assert text.count(f"plotly.js v{get_plotlyjs_version()}") == 1
    assert get_plotlyjs() in text
    assert "src=" not in text.split("</head>")[1]


def test_drawn_nps_of_each_segment_is_the_marts(
    warehouse: duckdb.DuckDBPyConnection, drawn: dict[str, list[dict]]
):
    mart = warehouse.execute(
        "select segment, strftime(period_start, '%Y-%m-%d') as period_start, nps, "
        "nps_margin_of_error from marts.nps_by_segment_period where period_grain = 'month' "
        "order by segment, period_start"
    ).df()
    traces = drawn["nps-trend"]
    for segment, rows in mart.groupby("segment"):
        (line,) = [t for t in traces if t["name"] == "NPS" and t["meta"] == segment]
        assert [x[:10] for x in line["x"]] == list(rows["period_start"])
        assert line["y"] == pytest.approx(list(rows["nps"]), nan_ok=True)
        high, low = [t for t in traces if "margin" in t["name"] and t["meta"] == segment]
        half_widths = [upper - nps for upper, nps in zip(high["y"], line["y"], strict=True)]
        assert half_widths == pytest.approx(list(rows["nps_margin_of_error"]), nan_ok=True)
        assert [nps - lower for nps, lower in zip(line["y"], low["y"], strict=True)] == (
            pytest.approx(list(rows["nps_margin_of_error"]), nan_ok=True)
        )
    assert {t["meta"] for t in traces} == set(mart["segment"])


@pytest.mark.parametrize(
    ("chart", "mart", "by"),
    [
        ("nps-trend", "nps_by_segment_period", "segment"),
        ("nps-by-country", "nps_by_country_period", "country"),
    ],
)
def test_a_mark_sits_on_exactly_the_months_whose_change_is_significant(
    warehouse: duckdb.DuckDBPyConnection, drawn: dict[str, list[dict]], chart, mart, by
):
    mart_rows = warehouse.execute(
        f"select {by}, strftime(period_start, '%Y-%m-%d') as period_start, nps from marts.{mart} "
        "where period_grain = 'month' and is_nps_change_significant order by period_start"
    ).df()
    traces = drawn[chart]
    members = {t["meta"] for t in traces}
    assert members == set(warehouse.execute(f"select distinct {by} from marts.{mart}").df()[by])
    for member in members:
        (marks,) = [t for t in traces if t["name"] == "significant change" and t["meta"] == member]
        expected = mart_rows[mart_rows[by] == member]
        assert [x[:10] for x in marks["x"]] == list(expected["period_start"])
        assert marks["y"] == pytest.approx(list(expected["nps"]))
    assert len(mart_rows) > 0, "the demo data has significant changes to mark"


def test_nps_three_ways_are_the_marts_columns(
    warehouse: duckdb.DuckDBPyConnection, drawn: dict[str, list[dict]]
):
    mart = warehouse.execute(
        "select segment, nps, account_nps, revenue_weighted_nps from marts.nps_by_segment_period "
        "where period_grain = 'quarter' order by segment, period_start"
    ).df()
    for segment, rows in mart.groupby("segment"):
        for column, label, _ in dashboard.NPS_KINDS:
            (line,) = [
                t
                for t in drawn["nps-three-ways"]
                if t["name"] == f"NPS {label}" and t["meta"] == segment
            ]
            assert line["y"] == pytest.approx(list(rows[column]), nan_ok=True)


def test_retention_after_an_answer_is_the_marts_judged_quarters(
    warehouse: duckdb.DuckDBPyConnection, drawn: dict[str, list[dict]]
):
    mart = warehouse.execute(
        "select respondent_category, retention_rate_12m "
        "from marts.retention_by_respondent_category where period_grain = 'quarter' "
        "and segment = 'All' and retention_rate_12m is not null order by period_start"
    ).df()
    traces = drawn["retention-after-answer"]
    for category, rows in mart.groupby("respondent_category"):
        (line,) = [t for t in traces if t["meta"] == f"{category} retention_rate_12m"]
        assert line["y"] == pytest.approx(list(rows["retention_rate_12m"]))
    assert len(mart) > 0


def test_shares_of_accounts_and_revenue_each_add_up_to_100(drawn: dict[str, list[dict]]):
    shares = [t for t in drawn["revenue-by-category"] if t["name"] in dashboard.CATEGORY_COLOURS]
    assert shares, "no stacked share bars drawn"
    for position in range(2):  # accounts, lifetime revenue
        assert sum(float(t["x"][position]) for t in shares) == pytest.approx(100.0)


def test_blind_spot_table_lists_the_largest_accounts_of_the_analysis(
    warehouse: duckdb.DuckDBPyConnection, drawn: dict[str, list[dict]]
):
    if not BLIND_SPOTS_ANALYSIS.exists():
        pytest.fail(f"{BLIND_SPOTS_ANALYSIS} is missing: run `dbt compile --select analyses`")
    analysis = warehouse.execute(BLIND_SPOTS_ANALYSIS.read_text()).df()
    expected = analysis.sort_values(
        ["lifetime_revenue_eur", "customer_id"], ascending=[False, True]
    ).head(dashboard.BLIND_SPOT_ROWS)
    (table,) = drawn["blind-spots"]
    assert table["cells"][0] == list(expected["customer_id"])
    assert len(expected) > 0


def test_header_says_when_build_info_is_missing(warehouse: duckdb.DuckDBPyConnection, page: Path):
    (latest,) = warehouse.execute("select max(latest_data_date) from marts.customers").fetchone()
    text = page.read_text(encoding="utf-8")
    assert f"Data up to {latest:%Y-%m-%d}" in text
    has_build_info = warehouse.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'marts' and table_name = 'build_info'"
    ).fetchone()[0]
    if has_build_info:
        (build_id,) = warehouse.execute("select build_id from marts.build_info").fetchone()
        assert f"Warehouse build {build_id}" in text
    else:
        assert "Build time not recorded" in text


def test_header_names_the_build_of_a_published_file(tmp_path: Path):
    published = tmp_path / "analytics.duckdb"
    shutil.copy(warehouse_path(), published)
    with duckdb.connect(str(published)) as connection:
        connection.execute("drop table if exists marts.build_info")
        connection.execute(
            "create table marts.build_info as select 'test-build-1' as build_id, "
            "timestamp '2026-07-01 02:30:00' as built_at, '{}' as raw_rows_json"
        )
    result = dashboard.render(published, tmp_path / "dashboard.html")
    text = result.path.read_text(encoding="utf-8")
    assert "Warehouse build test-build-1, built 2026-07-01 02:30 UTC." in text


def _empty_marts(path: Path, built: duckdb.DuckDBPyConnection) -> None:
    """Every mart with its columns and no rows, as after a failed or interrupted build."""
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema marts")
        for mart in dashboard.MARTS:
            columns = built.execute(f"describe marts.{mart}").fetchall()
            ddl = ", ".join(f'"{name}" {data_type}' for name, data_type, *_ in columns)
            connection.execute(f"create table marts.{mart} ({ddl})")


def _no_marts(path: Path, built: duckdb.DuckDBPyConnection) -> None:
    duckdb.connect(str(path)).close()


@pytest.mark.parametrize(
    ("make_warehouse", "says"),
    [
        (None, "does not exist: run `dbt build` first."),
        (_no_marts, "has no table marts.nps_by_segment_period: run `dbt build` first."),
        (_empty_marts, "is empty: run `dbt build` first."),
    ],
)
def test_a_warehouse_without_marts_gives_one_clear_sentence(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    warehouse: duckdb.DuckDBPyConnection,
    make_warehouse: Callable[[Path, duckdb.DuckDBPyConnection], None] | None,
    says: str,
):
    path = tmp_path / "scratch.duckdb"
    if make_warehouse is not None:
        make_warehouse(path, warehouse)
    out = tmp_path / "dashboard.html"
    code = cli.main(["dashboard", "--warehouse", str(path), "--out", str(out)])
    stderr = capsys.readouterr().err
    assert code == 2
    assert stderr.startswith("error: ") and stderr.rstrip().endswith(says)
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert not out.exists()


def test_cli_prints_one_line_per_chart_and_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "dashboard.html"
    assert cli.main(["dashboard", "--warehouse", str(warehouse_path()), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum(" chart " in line for line in lines) == len(dashboard.CHARTS)
    assert lines[-1].startswith(f"wrote {out} (")
    assert f"{len(dashboard.CHARTS)} charts" in lines[-1]
