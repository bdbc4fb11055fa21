{#-
    The period marts' shared shape: the counts and sums of the customer x period facts per
    period and member of a breakdown (segment or country), and the NPS columns computed from
    them. Formulas: macros/metrics.sql.
-#}

{#-
    One row per (period_grain, period_start, member) for each period of int_periods_enumerated
    and each member (plus 'All') of the breakdown column `by`: the sums of
    int_customer_periods_totalled (the customer x period facts per segment and country) and the
    account columns from int_respondent_periods_valued.
    Every customer counts in its own member and in 'All', so 'All' is summed over all
    customers, never derived from member values; a member without activity gets zeros.
-#}
{% macro periods_aggregated(by, members) -%}
{%- set total_columns = [
    'responses', 'promoters', 'passives', 'detractors', 'score_total', 'respondents',
    'respondents_active_at_end', 'customers_start', 'customers_end', 'new_customers',
    'acquired_customers', 'retained_customers', 'ordering_customers', 'orders',
    'revenue_eur', 'gross_margin_eur'
] -%}
with

totalled as (
    select * from {{ ref('int_customer_periods_totalled') }}
),

respondent_periods as (
    select * from {{ ref('int_respondent_periods_valued') }}
),

periods as (
    select * from {{ ref('int_periods_enumerated') }}
),

reporting_members as (
    {{ reporting_members(members) }}
),

-- Each responding account once, by the category of its mean score in the period, with its
-- completed-order revenue of the 12 months up to period_end.
account_totals as (
    select
        valued.period_grain,
        valued.period_start,
        reporting_members.reporting_member as {{ by }},
        sum(case when valued.account_category = 'promoter' then 1 else 0 end) as promoter_accounts,
        sum(case when valued.account_category = 'detractor' then 1 else 0 end) as detractor_accounts,
        sum(case when valued.account_category = 'promoter' then valued.revenue_prior_12m_eur else 0 end)
            as promoter_revenue_12m_eur,
        sum(case when valued.account_category = 'detractor' then valued.revenue_prior_12m_eur else 0 end)
            as detractor_revenue_12m_eur,
        sum(valued.revenue_prior_12m_eur) as respondent_revenue_12m_eur
    from respondent_periods as valued
    inner join reporting_members
        on valued.{{ by }} = reporting_members.member
    group by
        valued.period_grain,
        valued.period_start,
        reporting_members.reporting_member
),

totals as (
    select
        totalled.period_grain,
        totalled.period_start,
        reporting_members.reporting_member as {{ by }},
        {% for column in total_columns %}
            sum(totalled.{{ column }}) as {{ column }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from totalled
    inner join reporting_members
        on totalled.{{ by }} = reporting_members.member
    group by
        totalled.period_grain,
        totalled.period_start,
        reporting_members.reporting_member
),

all_members as (
    select distinct reporting_member as {{ by }} from reporting_members
),

final as (
    select
        periods.period_grain,
        periods.period_start,
        periods.period_end,
        all_members.{{ by }},
        {% for column in total_columns %}
            coalesce(totals.{{ column }}, 0) as {{ column }},
        {% endfor %}
        {% for column in [
            'promoter_accounts', 'detractor_accounts', 'promoter_revenue_12m_eur',
            'detractor_revenue_12m_eur', 'respondent_revenue_12m_eur'
        ] %}
            coalesce(account_totals.{{ column }}, 0) as {{ column }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from periods
    cross join all_members
    left join totals
        on periods.period_grain = totals.period_grain
        and periods.period_start = totals.period_start
        and all_members.{{ by }} = totals.{{ by }}
    left join account_totals
        on periods.period_grain = account_totals.period_grain
        and periods.period_start = account_totals.period_start
        and all_members.{{ by }} = account_totals.{{ by }}
)

select * from final
{%- endmacro %}

{#-
    The NPS mart of a breakdown `by` (segment or country): reads the CTE `aggregated` (rows of
    periods_aggregated) and ends in CTE final. The change against the previous period compares
    each period with the one before it of the same grain and member (the spine has no gaps).
-#}
{% macro nps_by_period(by) -%}
with_previous as (
    select
        *,
        lag(promoters) over previous_period as previous_promoters,
        lag(detractors) over previous_period as previous_detractors,
        lag(responses) over previous_period as previous_responses
    from aggregated
    window previous_period as (partition by period_grain, {{ by }} order by period_start)
),

final as (
    select
        period_grain,
        period_start,
        period_end,
        {{ by }},
        cast(responses as {{ dbt.type_bigint() }}) as responses,
        cast(promoters as {{ dbt.type_bigint() }}) as promoters,
        cast(passives as {{ dbt.type_bigint() }}) as passives,
        cast(detractors as {{ dbt.type_bigint() }}) as detractors,
        cast(respondents as {{ dbt.type_bigint() }}) as respondents,
        cast({{ share_pct('promoters', 'responses') }} as {{ type_double() }}) as pct_promoters,
        cast({{ share_pct('passives', 'responses') }} as {{ type_double() }}) as pct_passives,
        cast({{ share_pct('detractors', 'responses') }} as {{ type_double() }}) as pct_detractors,
        cast({{ nps('promoters', 'detractors', 'responses') }} as {{ type_double() }}) as nps,
        cast({{ nps_margin_of_error('promoters', 'detractors', 'responses') }} as {{ type_double() }})
            as nps_margin_of_error,
        cast({{ nps_change(
            'promoters', 'detractors', 'responses',
            'previous_promoters', 'previous_detractors', 'previous_responses'
        ) }} as {{ type_double() }}) as nps_change,
        cast({{ nps_change_margin_of_error(
            'promoters', 'detractors', 'responses',
            'previous_promoters', 'previous_detractors', 'previous_responses'
        ) }} as {{ type_double() }}) as nps_change_margin_of_error,
        {{ is_nps_change_significant(
            'promoters', 'detractors', 'responses',
            'previous_promoters', 'previous_detractors', 'previous_responses'
        ) }} as is_nps_change_significant,
        cast({{ avg_score('score_total', 'responses') }} as {{ type_double() }}) as avg_score,
        cast({{ avg_score_vs_benchmark('score_total', 'responses') }} as {{ type_double() }})
            as avg_score_vs_benchmark,
        cast({{ account_nps('promoter_accounts', 'detractor_accounts', 'respondents') }} as {{ type_double() }})
            as account_nps,
        cast({{ revenue_weighted_nps(
            'promoter_revenue_12m_eur', 'detractor_revenue_12m_eur', 'respondent_revenue_12m_eur'
        ) }} as {{ type_double() }}) as revenue_weighted_nps,
        cast({{ share_pct('respondents_active_at_end', 'customers_end') }} as {{ type_double() }})
            as survey_coverage
    from with_previous
)
{%- endmacro %}


{#- Each member of a breakdown with itself and with 'All' (member, reporting_member): joined to
    rows by member and grouped by reporting_member, every row counts in its member and in All. -#}
{% macro reporting_members(members) -%}
    {% for member in members %}
        select '{{ member }}' as member, '{{ member }}' as reporting_member
        union all
        select '{{ member }}' as member, 'All' as reporting_member
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
{%- endmacro %}
