{#-
    The metric formulas of docs/METRICS.md, each written once. Models and data tests call
    these macros; macros/metrics.yml documents them.
-#}

{% macro respondent_category(score) -%}
    case
        when {{ score }} >= 9 then 'promoter'
        when {{ score }} >= 7 then 'passive'
        when {{ score }} >= 0 then 'detractor'
    end
{%- endmacro %}

{% macro category_rank(category) -%}
    case {{ category }}
        when 'promoter' then 3
        when 'passive' then 2
        when 'detractor' then 1
    end
{%- endmacro %}

{#- The quotient first: part / whole is at most 1 when part <= whole, so the share stays within
    0..100; 100 * part first can round up (100 * 0.69 / 0.69 = 100.00000000000001). -#}
{% macro share_pct(part, whole) -%}
    case when {{ whole }} > 0 then 100 * ({{ as_double(part) }} / {{ whole }}) end
{%- endmacro %}

{% macro nps(promoters, detractors, responses) -%}
    ({{ share_pct(promoters, responses) }} - {{ share_pct(detractors, responses) }})
{%- endmacro %}

{#- The sampling variance of an NPS share difference: (p + d - (p - d)^2) / n. -#}
{% macro nps_sampling_variance(promoters, detractors, responses) -%}
    case
        when {{ responses }} > 0 then greatest(
            (
                {{ as_double(promoters) }} / {{ responses }}
                + {{ as_double(detractors) }} / {{ responses }}
                - power({{ as_double(promoters ~ ' - ' ~ detractors) }} / {{ responses }}, 2)
            ) / {{ responses }},
            0
        )
    end
{%- endmacro %}

{#- A 95% margin in NPS points from a sampling variance of the share difference. -#}
{% macro margin_95_points(variance) -%}
    100 * 1.96 * sqrt({{ variance }})
{%- endmacro %}

{% macro nps_margin_of_error(promoters, detractors, responses) -%}
    {{ margin_95_points(nps_sampling_variance(promoters, detractors, responses)) }}
{%- endmacro %}

{% macro nps_change(promoters, detractors, responses, previous_promoters, previous_detractors, previous_responses) -%}
    ({{ nps(promoters, detractors, responses) }} - {{ nps(previous_promoters, previous_detractors, previous_responses) }})
{%- endmacro %}

{% macro nps_change_margin_of_error(promoters, detractors, responses, previous_promoters, previous_detractors, previous_responses) -%}
    {{ margin_95_points(
        '(' ~ nps_sampling_variance(promoters, detractors, responses) ~ ' + '
        ~ nps_sampling_variance(previous_promoters, previous_detractors, previous_responses) ~ ')'
    ) }}
{%- endmacro %}

{% macro is_nps_change_significant(promoters, detractors, responses, previous_promoters, previous_detractors, previous_responses) -%}
    (abs({{ nps_change(promoters, detractors, responses, previous_promoters, previous_detractors, previous_responses) }})
    > {{ nps_change_margin_of_error(promoters, detractors, responses, previous_promoters, previous_detractors, previous_responses) }})
{%- endmacro %}

{#- numerator / denominator as a double; null when the denominator is 0. -#}
{% macro per(numerator, denominator) -%}
    case when {{ denominator }} > 0 then {{ as_double(numerator) }} / {{ denominator }} end
{%- endmacro %}

{% macro avg_score(score_total, responses) -%}
    {{ per(score_total, responses) }}
{%- endmacro %}

{% macro account_category(score_total, responses) -%}
    {{ respondent_category(avg_score(score_total, responses)) }}
{%- endmacro %}

{% macro account_nps(promoter_accounts, detractor_accounts, responding_accounts) -%}
    {{ nps(promoter_accounts, detractor_accounts, responding_accounts) }}
{%- endmacro %}

{% macro revenue_weighted_nps(promoter_revenue, detractor_revenue, respondent_revenue) -%}
    {{ nps(promoter_revenue, detractor_revenue, respondent_revenue) }}
{%- endmacro %}

{#- Whether the year after period_end is in the data: period_end + H <= the latest data date. -#}
{% macro is_horizon_observed(period_end, latest_data_date) -%}
    ({{ dbt.dateadd('day', var('advocacy_horizon_days'), period_end) }} <= {{ latest_data_date }})
{%- endmacro %}

{% macro retention_rate_12m(retained_accounts, accounts) -%}
    {{ share_pct(retained_accounts, accounts) }}
{%- endmacro %}

{% macro avg_score_vs_benchmark(score_total, responses) -%}
    ({{ avg_score(score_total, responses) }} - {{ var('avg_score_benchmark') }})
{%- endmacro %}

{% macro avg_order_value(revenue, orders) -%}
    {{ per(revenue, orders) }}
{%- endmacro %}

{% macro purchase_frequency(orders, active_customers) -%}
    {{ per(orders, active_customers) }}
{%- endmacro %}

{% macro margin_per_customer(gross_margin, active_customers) -%}
    {{ per(gross_margin, active_customers) }}
{%- endmacro %}

{% macro reactivated_customers(new_customers, acquired_customers) -%}
    ({{ new_customers }} - {{ acquired_customers }})
{%- endmacro %}

{% macro churned_customers(customers_start, retained_customers) -%}
    ({{ customers_start }} - {{ retained_customers }})
{%- endmacro %}

{% macro retention_rate(customers_start, customers_end, new_customers) -%}
    {{ share_pct('(' ~ customers_end ~ ' - ' ~ new_customers ~ ')', customers_start) }}
{%- endmacro %}

{% macro churn_rate(retention_rate) -%}
    (100.0 - {{ retention_rate }})
{%- endmacro %}

{% macro months_in_grain(period_grain) -%}
    case {{ period_grain }}
        when 'month' then 1
        when 'quarter' then 3
        when 'year' then 12
    end
{%- endmacro %}

{% macro discount_rate(period_grain) -%}
    (power(1 + {{ as_double(var('annual_discount_rate')) }}, {{ as_double(months_in_grain(period_grain)) }} / 12) - 1)
{%- endmacro %}

{% macro expected_lifetime_periods(retention_rate) -%}
    case
        when {{ retention_rate }} < 100 then 1.0 / (1.0 - {{ retention_rate }} / 100.0)
    end
{%- endmacro %}

{% macro clv(margin_per_customer, retention_rate, discount_rate) -%}
    (
        {{ margin_per_customer }} * ({{ retention_rate }} / 100.0)
        / (1.0 + {{ discount_rate }} - {{ retention_rate }} / 100.0)
    )
{%- endmacro %}

{% macro active_until(order_date) -%}
    {#- A completed order on day o makes its customer active on the days o .. o + W - 1, which is
        "active on day d when it has a completed order dated in (d - W, d]". -#}
    {{ dbt.dateadd('day', var('active_window_days') - 1, order_date) }}
{%- endmacro %}

{#-
    Arithmetic on floating point: every ratio divides a double, so each engine computes it the
    same way (a decimal division keeps only 6 decimals on Spark, arbitrary ones on PostgreSQL).
-#}
{% macro as_double(expression) -%}
    cast({{ expression }} as {{ type_double() }})
{%- endmacro %}

{#-
    A sum and a mean of a double column that do not depend on the order in which the rows are
    added: each value rounded to 12 decimals, added exactly as a decimal(38, 12), the result a
    double. A plain sum of doubles adds in the order parallel threads meet the rows, and its
    last digits differed from one build of the same data to the next.
-#}
{% macro exact_sum(column) -%}
    {{ as_double('sum(cast(' ~ column ~ ' as decimal(38, 12)))') }}
{%- endmacro %}

{% macro exact_mean(column) -%}
    {{ as_double('avg(cast(' ~ column ~ ' as decimal(38, 12)))') }}
{%- endmacro %}

{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'nps_warehouse')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double
{%- endmacro %}

{% macro postgres__type_double() -%}
    double precision
{%- endmacro %}

{#- The latest data date: the latest valid order or response date (mart customers, CLV window). -#}
{% macro latest_data_date(orders, responses) -%}
    (
        select max(activity_date)
        from (
            select order_date as activity_date from {{ orders }}
            union all
            select response_date as activity_date from {{ responses }}
        ) as activity
    )
{%- endmacro %}
