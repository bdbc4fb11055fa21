"""A static HTML dashboard of the serving marts: one self-contained file, no server.

`render()` reads the marts through one read-only DuckDB connection, builds one Plotly figure
per chart and writes a single HTML file with plotly.js inlined once, so the file opens offline
in any browser. Every number drawn is a mart column or a plain count, sum or share over mart
rows; the metric formulas stay in the dbt macros (`macros/metrics.sql`). `check_in_browser()`
opens such a file in headless Chromium (Debian's, from `scripts/browser-up`, driven by
Playwright); the tests and the CLI's `--screenshot` use it, so the committed screenshot comes
from the same code the test checks.
"""

from __future__ import annotations

import html
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import plotly.graph_objects as go
from plotly.basedatatypes import BaseTraceType
from plotly.colors import hex_to_rgb
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

MARTS = (
    "nps_by_segment_period",
    "nps_by_country_period",
    "retention_by_segment_period",
    "retention_by_respondent_category",
    "clv_by_segment_period",
    "customers",
    "predicted_clv_by_segment",
    "revenue_by_respondent_category",
    "blind_spot_accounts",
)
ROLLUP = "All"
# Segment colours in order of appearance (the rollup first); the same segment keeps its colour
# in every chart. Okabe-Ito, readable for colour-blind readers.
SEGMENT_PALETTE = ("#333333", "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
CATEGORY_COLOURS = {
    "promoter": "#009E73",
    "passive": "#B0B0B0",
    "detractor": "#D55E00",
    "never surveyed": "#56B4E9",
}
ANSWER_CATEGORIES = ("promoter", "passive", "detractor")
BLIND_SPOT_ROWS = 15
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Liberation Sans', Arial, sans-serif"
PLOT_CONFIG = {"displaylogo": False, "responsive": True}
EUR_TICKS = {"tickprefix": "€", "tickformat": "~s"}


class DashboardError(Exception):
    """The warehouse cannot feed the dashboard, or the browser cannot open it; one sentence."""


@dataclass(frozen=True)
class Chart:
    """One section of the page: `build(connection, segments)` makes its figure; the builder's
    name (with dashes) is the section's slug and its docstring the caption; `summary`, when set,
    appends a sentence computed from the marts."""

    title: str
    build: Callable[[duckdb.DuckDBPyConnection, list[str]], go.Figure]
    summary: Callable[[duckdb.DuckDBPyConnection], str] | None = None

    @property
    def slug(self) -> str:
        return self.build.__name__.replace("_", "-")

    @property
    def caption(self) -> str:
        return " ".join((self.build.__doc__ or "").split())


@dataclass(frozen=True)
class RenderResult:
    path: Path
    size_bytes: int
    charts: int
    seconds: float


@dataclass(frozen=True)
class BrowserCheck:
    """What headless Chromium saw: errors, chart containers, and those that drew an SVG."""

    errors: list[str]
    chart_containers: int
    rendered_charts: int
    blocked_requests: list[str] = field(default_factory=list)
    screenshot: Path | None = None


@contextmanager
def open_marts(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to `path` whose marts (MARTS) exist and hold rows."""
    if not path.is_file():
        raise DashboardError(f"warehouse {path} does not exist: run `dbt build` first")
    try:
        connection = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        reason = str(error).strip().splitlines()[0]
        raise DashboardError(
            f"cannot open warehouse {path} read-only ({reason}): if dbt is writing to it, run "
            "again when it has finished"
        ) from error
    with connection:
        for mart in MARTS:
            try:
                (rows,) = connection.execute(f"select count(*) from marts.{mart}").fetchone()
            except duckdb.CatalogException as error:
                raise DashboardError(
                    f"warehouse {path} has no table marts.{mart}: run `dbt build` first"
                ) from error
            if rows == 0:
                raise DashboardError(f"mart marts.{mart} in {path} is empty: run `dbt build` first")
        yield connection


def members(
    connection: duckdb.DuckDBPyConnection, mart: str = "nps_by_segment_period", by: str = "segment"
) -> list[str]:
    """The members of a mart's breakdown (segments or countries), the rollup `All` first."""
    rows = connection.execute(
        f"select distinct {by} from marts.{mart} order by {by} <> ?, {by}", [ROLLUP]
    ).fetchall()
    return [member for (member,) in rows]


def _periods(
    connection: duckdb.DuckDBPyConnection, mart: str, grain: str, columns: str, where: str = ""
) -> pd.DataFrame:
    """period_start and `columns` of a mart's rows at `grain`, oldest period first."""
    return connection.execute(
        f"select period_start, {columns} from marts.{mart} "
        f"where period_grain = ? {where} order by period_start",
        [grain],
    ).df()


def _colour(segment_list: list[str], segment: str) -> str:
    return SEGMENT_PALETTE[segment_list.index(segment) % len(SEGMENT_PALETTE)]


def _transparent(hex_colour: str, alpha: float) -> str:
    red, green, blue = hex_to_rgb(hex_colour)
    return f"rgba({red}, {green}, {blue}, {alpha})"


def _trace(
    rows: pd.DataFrame,
    y: str,
    hover: str | None = None,
    custom: Sequence[str] = (),
    kind: Callable[..., BaseTraceType] = go.Scatter,
    x: str = "period_start",
    **options: object,
) -> BaseTraceType:
    """A `kind` trace of column `y` against `x`; `hover` is its hovertemplate without <extra>."""
    return kind(
        x=rows[x],
        y=rows[y],
        customdata=rows[list(custom)] if custom else None,
        hovertemplate=None if hover is None else f"{hover}<extra></extra>",
        **options,
    )


def _grid(titles: Sequence[str], **options: object) -> go.Figure:
    """Panels two a row, titled `titles`."""
    options = {"horizontal_spacing": 0.07, "vertical_spacing": 0.12, **options}
    return make_subplots(rows=(len(titles) + 1) // 2, cols=2, subplot_titles=titles, **options)


def _panels(
    frame: pd.DataFrame,
    by: str,
    groups: Sequence[str],
    traces: Callable[[pd.DataFrame, str], list[BaseTraceType]],
    titles: Sequence[str] = (),
    **options: object,
) -> go.Figure:
    """`traces(rows, group)` for each group of `frame[by]`, sharing the x axis: one panel per
    group (small multiples) or, given `titles`, one per trace. A trace that does not set
    `showlegend` shows in the legend from the first panel only."""
    figure = _grid(titles or groups, shared_xaxes=True, **options)
    for group_index, group in enumerate(groups):
        for trace_index, trace in enumerate(traces(frame[frame[by] == group], group)):
            panel = trace_index if titles else group_index
            if trace.showlegend is None:
                trace.showlegend = panel == 0
            figure.add_trace(trace, row=panel // 2 + 1, col=panel % 2 + 1)
    return figure


def _style(figure: go.Figure, height: int) -> go.Figure:
    figure.update_layout(
        template="plotly_white",
        height=height,
        font={"family": FONT, "size": 13},
        margin={"l": 70, "r": 20, "t": 80, "b": 40},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.08, "x": 0, "traceorder": "normal"},
        hoverlabel={"font": {"family": FONT}},
    )
    figure.update_annotations(font={"size": 14})
    return figure


def _nps_axes(figure: go.Figure) -> go.Figure:
    """The NPS scale, -100..100 with the zero line, on every panel."""
    figure.add_hline(y=0, line={"color": "#999999", "width": 1})
    figure.update_yaxes(range=[-100, 100], dtick=50, zeroline=False)
    figure.update_yaxes(title_text="NPS (points)", col=1)
    return _style(figure, height=560)


def nps_trend(
    connection: duckdb.DuckDBPyConnection,
    member_list: list[str],
    mart: str = "nps_by_segment_period",
    by: str = "segment",
) -> go.Figure:
    """Monthly NPS (% promoters − % detractors, −100..100) from nps_by_segment_period. The band
    is NPS ± nps_margin_of_error; a red diamond marks a month whose change against the month
    before exceeds its 95% margin (is_nps_change_significant): the other month-to-month moves
    may be noise. Month grain; months without responses are gaps."""
    columns = f"""{by} as member, responses, nps, nps_margin_of_error,
        nps - nps_margin_of_error as band_low, nps + nps_margin_of_error as band_high,
        nps_change, nps_change_margin_of_error,
        coalesce(is_nps_change_significant, false) as is_significant"""
    frame = _periods(connection, mart, "month", columns)

    def traces(rows: pd.DataFrame, member: str) -> list[BaseTraceType]:
        colour = _colour(member_list, member)
        when = f"{html.escape(member)} %{{x|%b %Y}}"
        band = dict(mode="lines", line_width=0, hoverinfo="skip", meta=member, legendgroup="band")
        fill = {"fill": "tonexty", "fillcolor": _transparent(colour, 0.18)}
        return [
            _trace(rows, "band_high", name="NPS + margin of error", showlegend=False, **band),
            _trace(rows, "band_low", name="95% margin of error", **fill, **band),
            _trace(
                rows,
                "nps",
                f"{when}<br>NPS %{{y:.1f}} ± %{{customdata[0]:.1f}}<br>"
                "%{customdata[1]} responses",
                ("nps_margin_of_error", "responses"),
                mode="lines+markers",
                line={"color": colour, "width": 2},
                marker={"size": 4},
                name="NPS",
                meta=member,
                legendgroup="nps",
            ),
            _trace(
                rows[rows["is_significant"]],
                "nps",
                f"{when}: NPS %{{y:.1f}}<br>change %{{customdata[0]:+.1f}} beyond its margin "
                "± %{customdata[1]:.1f}",
                ("nps_change", "nps_change_margin_of_error"),
                mode="markers",
                marker={"symbol": "diamond", "size": 11, "color": "#CC0000", "line": {"width": 0}},
                name="significant change",
                meta=member,
                legendgroup="significant",
            ),
        ]

    return _nps_axes(_panels(frame, "member", member_list, traces, shared_yaxes=True))


def nps_by_country(connection: duckdb.DuckDBPyConnection, segment_list: list[str]) -> go.Figure:
    """Monthly NPS per country of the customer (DE, AT, CH) from nps_by_country_period, with the
    same band and marks. A score means a little more or less in each market: compare a country
    with its own trend before comparing countries."""
    countries = members(connection, "nps_by_country_period", "country")
    return nps_trend(connection, countries, "nps_by_country_period", "country")


NPS_KINDS = (
    ("nps", "per answer", "solid"),
    ("account_nps", "per account", "dot"),
    ("revenue_weighted_nps", "revenue-weighted", "dash"),
)


def nps_three_ways(connection: duckdb.DuckDBPyConnection, segment_list: list[str]) -> go.Figure:
    """Quarterly NPS from nps_by_segment_period counted three ways: every answer once (solid);
    every answering account once, by the mean of its scores (dotted); and accounts weighted by
    their completed-order revenue of the 12 months up to the quarter's end (dashed). Where the
    dashed line is above the solid one, the accounts that buy most are happier than the answers
    suggest."""
    columns = "segment, nps, account_nps, revenue_weighted_nps"
    frame = _periods(connection, "nps_by_segment_period", "quarter", columns)

    def traces(rows: pd.DataFrame, segment: str) -> list[BaseTraceType]:
        return [
            _trace(
                rows,
                column,
                f"{html.escape(segment)} %{{x|%b %Y}} quarter<br>NPS {label} %{{y:.1f}}",
                mode="lines+markers",
                line={"color": _colour(segment_list, segment), "width": 2, "dash": dash},
                marker={"size": 4},
                name=f"NPS {label}",
                meta=segment,
                legendgroup=column,
            )
            for column, label, dash in NPS_KINDS
        ]

    return _nps_axes(_panels(frame, "segment", segment_list, traces, shared_yaxes=True))


def category_shares(connection: duckdb.DuckDBPyConnection, segment_list: list[str]) -> go.Figure:
    """Share of each month's responses by respondent category (score 9–10 promoter, 7–8
    passive, 0–6 detractor), from nps_by_segment_period. Month grain."""
    columns = "segment, responses, pct_promoters, pct_passives, pct_detractors"
    frame = _periods(connection, "nps_by_segment_period", "month", columns)

    def traces(rows: pd.DataFrame, segment: str) -> list[BaseTraceType]:
        return [
            _trace(
                rows,
                f"pct_{category}s",
                f"{html.escape(segment)} %{{x|%b %Y}}<br>{category}s: %{{y:.1f}}% of "
                "%{customdata[0]} responses",
                ("responses",),
                go.Bar,
                name=f"% {category}s",
                marker={"color": CATEGORY_COLOURS[category], "line": {"width": 0}},
                legendgroup=f"{category}s",
            )
            for category in ANSWER_CATEGORIES
        ]

    figure = _panels(frame, "segment", segment_list, traces, shared_yaxes=True)
    figure.update_layout(barmode="stack", bargap=0.1)
    figure.update_yaxes(range=[0, 100], ticksuffix="%")
    figure.update_yaxes(title_text="share of responses (%)", col=1)
    return _style(figure, height=560)


def retention_churn(connection: duckdb.DuckDBPyConnection, segment_list: list[str]) -> go.Figure:
    """Of the customers active the day before a quarter starts, the % still active at its end
    (retention) or not (churn), from retention_by_segment_period. Quarter grain: with a 365-day
    activity window a month sees only a handful of churned accounts per segment. Quarters
    without active customers at their start have no rate."""
    columns = "segment, customers_start, churned_customers, retention_rate, churn_rate"
    frame = _periods(connection, "retention_by_segment_period", "quarter", columns)

    def traces(rows: pd.DataFrame, segment: str) -> list[BaseTraceType]:
        line = {"color": _colour(segment_list, segment), "width": 3 if segment == ROLLUP else 2}
        return [
            _trace(
                rows,
                column,
                f"{html.escape(segment)} %{{x|%b %Y}}<br>{column.replace('_', ' ')}: %{{y:.1f}}%"
                "<br>%{customdata[1]} of %{customdata[0]} customers churned",
                ("customers_start", "churned_customers"),
                mode="lines+markers",
                line=line,
                name=segment,
                legendgroup=segment,
            )
            for column in ("retention_rate", "churn_rate")
        ]

    titles = ("Retention rate (%)", "Churn rate (%)")
    figure = _panels(frame, "segment", segment_list, traces, titles, horizontal_spacing=0.08)
    figure.update_yaxes(ticksuffix="%", rangemode="tozero", col=2)
    figure.update_yaxes(ticksuffix="%", col=1)
    figure.update_yaxes(title_text="% of customers active at quarter start", col=1)
    return _style(figure, height=430)


def clv(connection: duckdb.DuckDBPyConnection, segment_list: list[str]) -> go.Figure:
    """CLV per active customer (margin per customer × retention / (1 + discount − retention),
    from clv_by_segment_period). Quarter grain, for the same reason as retention; each panel has
    its own EUR scale."""
    columns = "segment, clv, margin_per_customer, retention_rate, active_customers"
    frame = _periods(connection, "clv_by_segment_period", "quarter", columns)

    def traces(rows: pd.DataFrame, segment: str) -> list[BaseTraceType]:
        bar = _trace(
            rows,
            "clv",
            f"{html.escape(segment)} %{{x|%b %Y}}<br>CLV €%{{y:,.0f}}<br>margin per customer "
            "€%{customdata[0]:,.0f}, retention %{customdata[1]:.1f}%<br>"
            "%{customdata[2]} active customers",
            ("margin_per_customer", "retention_rate", "active_customers"),
            go.Bar,
            marker={"color": _colour(segment_list, segment)},
            name=segment,
            showlegend=False,
        )
        return [bar]

    figure = _panels(frame, "segment", segment_list, traces)
    figure.update_yaxes(**EUR_TICKS, rangemode="tozero")
    figure.update_yaxes(title_text="CLV per customer (EUR)", col=1)
    return _style(figure, height=560)


def predicted_clv(connection: duckdb.DuckDBPyConnection, segment_list: list[str]) -> go.Figure:
    """BG/NBD and Gamma-Gamma models fitted in the warehouse (predicted_clv_by_segment,
    customers mart): the expected gross margin of the next 12 months, discounted monthly. Right:
    accounts with a high lifetime revenue but a low probability of still buying are the ones to
    call first."""
    by_segment = connection.execute(
        "select segment, mean_predicted_clv_12m, customers, expected_alive_customers "
        "from marts.predicted_clv_by_segment order by list_position(?::varchar[], segment)",
        [segment_list],
    ).df()
    accounts = connection.execute(
        "select customer_id, segment, probability_alive, lifetime_revenue_eur, predicted_clv_12m "
        "from marts.customers where probability_alive is not null and lifetime_revenue_eur > 0"
    ).df()
    titles = (
        "Mean predicted 12-month CLV per customer (EUR)",
        "Probability alive vs lifetime revenue, per account",
    )
    figure = _grid(titles, column_widths=[0.4, 0.6], horizontal_spacing=0.12)
    bars = _trace(
        by_segment,
        "mean_predicted_clv_12m",
        "%{x}<br>mean predicted CLV €%{y:,.0f}<br>%{customdata[0]} customers, "
        "%{customdata[1]:.0f} expected still alive",
        ("customers", "expected_alive_customers"),
        go.Bar,
        x="segment",
        marker={"color": [_colour(segment_list, s) for s in by_segment["segment"]]},
        showlegend=False,
    )
    figure.add_trace(bars, row=1, col=1)
    for segment in segment_list:
        rows = accounts[accounts["segment"] == segment]
        if rows.empty:
            continue
        points = _trace(
            rows,
            "lifetime_revenue_eur",
            "%{customdata[0]}<br>P(alive) %{x:.2f}<br>lifetime revenue €%{y:,.0f}<br>"
            "predicted 12-month CLV €%{customdata[1]:,.0f}",
            ("customer_id", "predicted_clv_12m"),
            x="probability_alive",
            mode="markers",
            marker={"color": _colour(segment_list, segment), "size": 7, "opacity": 0.75},
            name=segment,
        )
        figure.add_trace(points, row=1, col=2)
    figure.update_yaxes(**EUR_TICKS, rangemode="tozero", row=1, col=1)
    figure.update_yaxes(
        type="log", dtick=1, title_text="lifetime revenue", row=1, col=2, **EUR_TICKS
    )
    figure.update_xaxes(range=[0, 1.02], title_text="probability alive", row=1, col=2)
    return _style(figure, height=460)


def revenue_by_category(
    connection: duckdb.DuckDBPyConnection, segment_list: list[str]
) -> go.Figure:
    """All customers grouped by their latest answer (never surveyed apart), from the customers
    mart: average lifetime revenue per account, and each group's share of accounts next to its
    share of lifetime revenue. All segments together; the segment mix differs between
    categories."""
    frame = connection.execute(
        """
        select replace(respondent_category, '_', ' ') as category, account_count as accounts,
            revenue_eur, revenue_per_account_eur, pct_of_accounts as pct_accounts,
            pct_of_revenue as pct_revenue
        from marts.revenue_by_respondent_category
        order by list_position(?::varchar[], category)
        """,
        [list(CATEGORY_COLOURS)],
    ).df()
    titles = (
        "Lifetime revenue per account (EUR)",
        "Share of accounts vs share of lifetime revenue (%)",
    )
    figure = _grid(titles, column_widths=(0.45, 0.55), horizontal_spacing=0.12)
    bars = _trace(
        frame,
        "revenue_per_account_eur",
        "%{x}: %{customdata[0]} accounts<br>€%{y:,.0f} per account<br>"
        "€%{customdata[1]:,.0f} in total",
        ("accounts", "revenue_eur"),
        go.Bar,
        x="category",
        marker={"color": [CATEGORY_COLOURS[category] for category in frame["category"]]},
        text=frame["revenue_per_account_eur"],
        texttemplate="€%{text:,.0f}",
        textposition="outside",
        showlegend=False,
    )
    figure.add_trace(bars, row=1, col=1)
    for row in frame.itertuples():
        shares = go.Bar(
            y=["accounts", "lifetime revenue"],
            x=[row.pct_accounts, row.pct_revenue],
            orientation="h",
            name=row.category,
            marker={"color": CATEGORY_COLOURS[row.category]},
            text=[row.pct_accounts, row.pct_revenue],
            texttemplate="%{text:.0f}%",
            textposition="inside",
            textangle=0,
            insidetextanchor="middle",
            hovertemplate=f"{row.category}: %{{x:.1f}}% of %{{y}}<extra></extra>",
        )
        figure.add_trace(shares, row=1, col=2)
    figure.update_layout(barmode="stack", uniformtext={"minsize": 11, "mode": "hide"})
    figure.update_yaxes(**EUR_TICKS, title_text="EUR per account", col=1)
    figure.update_xaxes(title_text="latest answer", col=1)
    figure.update_xaxes(range=[0, 100], ticksuffix="%", title_text="% of the total", col=2)
    figure.update_yaxes(autorange="reversed", col=2)
    return _style(figure, height=440)


def retention_after_answer(
    connection: duckdb.DuckDBPyConnection, segment_list: list[str]
) -> go.Figure:
    """The accounts that answered in a quarter, by the category of their last answer there
    (retention_by_respondent_category, all segments): the % still active 365 days after the
    quarter's end, and their revenue per account in those 365 days. Quarters whose year after
    is not in the data yet are left out."""
    frame = _periods(
        connection,
        "retention_by_respondent_category",
        "quarter",
        "respondent_category as category, accounts, retention_rate_12m, "
        "revenue_next_12m_eur / nullif(accounts, 0) as revenue_next_per_account_eur",
        "and segment = 'All' and retention_rate_12m is not null",
    )

    def traces(rows: pd.DataFrame, category: str) -> list[BaseTraceType]:
        return [
            _trace(
                rows,
                column,
                f"{category}s answering in the quarter of %{{x|%b %Y}}:<br>{template}",
                ("accounts",),
                mode="lines+markers",
                line={"color": CATEGORY_COLOURS[category], "width": 2},
                name=f"{category}s",
                meta=f"{category} {column}",
                legendgroup=category,
            )
            for column, template in (
                ("retention_rate_12m", "%{y:.1f}% of %{customdata[0]} accounts still active"),
                ("revenue_next_per_account_eur", "€%{y:,.0f} per account in the year after"),
            )
        ]

    titles = (
        "Still active 12 months later (%)",
        "Revenue per account in the 12 months after (EUR)",
    )
    figure = _panels(frame, "category", ANSWER_CATEGORIES, traces, titles, horizontal_spacing=0.1)
    figure.update_yaxes(range=[0, 100], ticksuffix="%", row=1, col=1)
    figure.update_yaxes(**EUR_TICKS, rangemode="tozero", row=1, col=2)
    return _style(figure, height=440)


def blind_spots(connection: duckdb.DuckDBPyConnection, segment_list: list[str]) -> go.Figure:
    """Accounts in the top 20% by lifetime revenue (customers mart) that were never surveyed or
    gave no answer in the last 12 months: nobody knows whether they would recommend us."""
    frame = connection.execute(
        f"""
        select customer_id as customer, segment, country,
            lifetime_revenue_eur as "lifetime revenue (EUR)",
            case when is_active then 'yes' else 'no' end as active,
            coalesce(strftime(last_responded_at, '%Y-%m-%d'), 'never') as "last answer",
            blind_spot as "why no voice"
        from marts.blind_spot_accounts
        order by lifetime_revenue_eur desc, customer_id
        limit {BLIND_SPOT_ROWS}
        """
    ).df()
    never = _transparent(CATEGORY_COLOURS["never surveyed"], 0.15)
    row_colours = [never if why == "never surveyed" else "white" for why in frame["why no voice"]]
    figure = go.Figure(
        go.Table(
            columnwidth=[1.1, 1.1, 0.8, 1.5, 0.7, 1.1, 1.7],
            header={
                "values": [f"<b>{label}</b>" for label in frame.columns],
                "fill_color": "#333333",
                "font": {"color": "white", "size": 13},
                "align": "left",
                "height": 30,
            },
            cells={
                "values": [frame[column] for column in frame.columns],
                "format": [None, None, None, ",.0f", None, None, None],
                "prefix": [None, None, None, "€ ", None, None, None],
                "align": ["left", "left", "left", "right", "left", "left", "left"],
                "fill_color": [row_colours],
                "height": 26,
            },
        )
    )
    _style(figure, height=60 + 30 * max(len(frame), 1))
    return figure.update_layout(margin={"l": 0, "r": 0, "t": 10, "b": 10})


def blind_spot_summary(connection: duckdb.DuckDBPyConnection) -> str:
    """One sentence on all blind-spot accounts: how many, why, and the revenue they hold."""
    total, never, revenue, share = connection.execute(
        """
        select count(*), count(*) filter (where blind_spot = 'never surveyed'),
            coalesce(sum(lifetime_revenue_eur), 0),
            coalesce(100.0 * sum(lifetime_revenue_eur)
                / (select sum(lifetime_revenue_eur) from marts.customers), 0)
        from marts.blind_spot_accounts
        """
    ).fetchone()
    return (
        f"{total} accounts have no voice ({never} never surveyed, {total - never} without an "
        f"answer in the 12 months up to the latest data date); together €{revenue:,.0f} "
        f"lifetime revenue, {share:.0f}% of all. The {min(total, BLIND_SPOT_ROWS)} largest are "
        "listed; ask them first."
    )


CHARTS = (
    Chart("NPS trend per segment, with its 95% margin of error", nps_trend),
    Chart("NPS trend per country, with its 95% margin of error", nps_by_country),
    Chart("NPS per answer, per account and weighted by revenue", nps_three_ways),
    Chart("Promoters, passives and detractors per segment", category_shares),
    Chart("Retention and churn per segment", retention_churn),
    Chart("Customer lifetime value per segment", clv),
    Chart("Predicted CLV: what each account is likely worth in the next 12 months", predicted_clv),
    Chart("NPS and revenue: what each respondent category is worth", revenue_by_category),
    Chart(
        "Do promoters stay? Retention and revenue 12 months after an answer",
        retention_after_answer,
    ),
    Chart("Blind spots: large accounts whose voice is missing", blind_spots, blind_spot_summary),
)

STYLE = f"""
body {{ font-family: {FONT}; margin: 0; background: #f4f5f7; color: #222; }}
header {{ background: #1f2933; color: #fff; padding: 20px 32px; }}
header h1 {{ margin: 0 0 6px; font-size: 26px; font-weight: 600; }}
header p {{ margin: 2px 0; font-size: 14px; color: #d5dae1; }}
main {{ max-width: 1200px; margin: 0 auto; padding: 16px 16px 32px; }}
section {{ background: #fff; border-radius: 6px; margin: 16px 0; padding: 16px 20px 8px;
          box-shadow: 0 1px 3px rgba(0, 0, 0, 0.12); }}
section h2 {{ margin: 0 0 4px; font-size: 19px; font-weight: 600; }}
section p.caption {{ margin: 0 0 8px; font-size: 13.5px; color: #555; line-height: 1.45; }}
footer {{ text-align: center; font-size: 12px; color: #777; padding-bottom: 24px; }}
"""


def _header_lines(connection: duckdb.DuckDBPyConnection, warehouse: Path) -> list[str]:
    (latest,) = connection.execute("select max(latest_data_date) from marts.customers").fetchone()
    lines = [f"Data up to {latest:%Y-%m-%d} (the latest valid order or survey response)."]
    try:
        build_id, built_at = connection.execute(
            "select build_id, built_at from marts.build_info"
        ).fetchone()
    except duckdb.CatalogException:
        lines.append(
            "Build time not recorded: a dev build (`nps-warehouse refresh` stamps "
            "marts.build_info)."
        )
    else:
        lines.append(f"Warehouse build {build_id}, built {built_at:%Y-%m-%d %H:%M} UTC.")
    lines.append(
        f"Rendered {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from {warehouse.name}; hover a chart "
        "for exact values."
    )
    return lines


def render(
    warehouse: Path, out: Path, progress: Callable[[str], None] = lambda line: None
) -> RenderResult:
    """Write the dashboard of `warehouse`'s marts to `out` (one self-contained HTML file)."""
    started = time.perf_counter()
    sections = []
    with open_marts(warehouse) as connection:
        header = _header_lines(connection, warehouse)
        segment_list = members(connection)
        for number, chart in enumerate(CHARTS, start=1):
            chart_started = time.perf_counter()
            div = chart.build(connection, segment_list).to_html(
                full_html=False, include_plotlyjs=False, div_id=chart.slug, config=PLOT_CONFIG
            )
            summary = f" {chart.summary(connection)}" if chart.summary else ""
            sections.append(
                f'<section data-chart="{chart.slug}">\n<h2>{html.escape(chart.title)}</h2>\n'
                f'<p class="caption">{html.escape(chart.caption + summary)}</p>\n{div}\n</section>'
            )
            progress(
                f"  chart {number}/{len(CHARTS)} {chart.slug:<20} "
                f"{time.perf_counter() - chart_started:.1f} s"
            )
    header_html = "\n".join(f"<p>{html.escape(line)}</p>" for line in header)
    sections_html = "\n".join(sections)
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>NPS, retention and CLV dashboard</title>
<style>{STYLE}</style>
<script type="text/javascript">{get_plotlyjs()}</script>
</head>
<body>
<header>
<h1>NPS, retention and CLV: B2B customers in Germany, Austria and Switzerland</h1>
{header_html}
</header>
<main data-charts="{len(CHARTS)}">
{sections_html}
</main>
<footer>Figures from schema marts (metric contract: docs/METRICS.md; formulas:
macros/metrics.sql). Customer ids are pseudonymous; the marts hold no personal data.</footer>
</body>
</html>
"""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return RenderResult(out, out.stat().st_size, len(CHARTS), time.perf_counter() - started)


def chromium_path() -> str:
    """Debian's chromium, or a DashboardError that says how to install it."""
    path = shutil.which("chromium")
    if path is None:
        raise DashboardError(
            "Debian's chromium is not installed: run `scripts/browser-up` (as root) first"
        )
    return path


def check_in_browser(
    page_path: Path, screenshot: Path | None = None, width: int = 1200
) -> BrowserCheck:
    """Open `page_path` in headless Chromium, offline, and report what rendered: blocks and
    reports every non-local request, waits (at most 30 s) until every chart holds Plotly's SVG,
    then saves a full-page screenshot `width` pixels wide when `screenshot` is given."""
    from playwright.sync_api import ConsoleMessage, Route, sync_playwright
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    executable = chromium_path()
    errors: list[str] = []
    blocked: list[str] = []
    rendered_js = (
        "() => [...document.querySelectorAll('div.plotly-graph-div')]"
        ".filter(div => div.querySelector('.main-svg')).length"
    )

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"console: {message.text}")

    def local_only(route: Route) -> None:
        if route.request.url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, headless=True)
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.on("console", on_console)
            page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
            page.route("**/*", local_only)
            page.goto(page_path.resolve().as_uri(), wait_until="load")
            containers = page.locator("div.plotly-graph-div").count()
            try:
                page.wait_for_function(f"({rendered_js})() === {containers}", timeout=30_000)
            except PlaywrightTimeout:
                errors.append("timeout: not every chart rendered within 30 s")
            rendered = page.evaluate(rendered_js)
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True)
            browser.close()
    except PlaywrightError as error:
        reason = str(error).strip().splitlines()[0]
        raise DashboardError(f"headless chromium ({executable}) failed: {reason}") from error
    return BrowserCheck(errors, containers, rendered, blocked, screenshot)
