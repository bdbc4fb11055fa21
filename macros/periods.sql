{#-
    The period marts' shared shape: the counts and sums of the customer x period facts per
    period and member of a breakdown (segment or country), and the NPS columns computed from
    them. Formulas: macros/metrics.sql.
-#}

{#-
    One row per (period_grain, period_start, member) for each period of int_periods_enumerated
    and each member (plus 'All') of the breakdown column `by` of int_customer_periods_summarised
    (the account columns from int_respondent_periods_valued).
    Every customer counts in its own member and in 'All', so 'All' is summed over all
    customers, never derived from member values; a member without activity gets zeros.
-#}
{% macro periods_aggregated(by, members) -%}
with

customer_periods as (
    select * from {{ ref('int_customer_periods_summarised') }}
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
        customer_periods.period_grain,
        customer_periods.period_start,
        reporting_members.reporting_member as {{ by }},
        sum(customer_periods.responses) as responses,
        sum(customer_periods.promoters) as promoters,
        sum(customer_periods.passives) as passives,
        sum(customer_periods.detractors) as detractors,
        sum(customer_periods.score_total) as score_total,
        sum(case when customer_periods.has_responded then 1 else 0 end) as respondents,
        sum(case when customer_periods.has_responded and customer_periods.is_active_at_end then 1 else 0 end)
            as respondents_active_at_end,
        sum(case when customer_periods.is_active_at_start then 1 else 0 end) as customers_start,
        sum(case when customer_periods.is_active_at_end then 1 else 0 end) as customers_end,
        sum(case when customer_periods.is_new then 1 else 0 end) as new_customers,
        sum(case when customer_periods.is_acquired then 1 else 0 end) as acquired_customers,
        sum(case when customer_periods.is_retained then 1 else 0 end) as retained_customers,
        sum(case when customer_periods.has_completed_order then 1 else 0 end) as ordering_customers,
        sum(customer_periods.completed_orders) as orders,
        sum(customer_periods.revenue_eur) as revenue_eur,
        sum(customer_periods.gross_margin_eur) as gross_margin_eur
    from customer_periods
    inner join reporting_members
        on customer_periods.{{ by }} = reporting_members.member
    group by
        customer_periods.period_grain,
        customer_periods.period_start,
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
        {% for column in [
            'responses', 'promoters', 'passives', 'detractors', 'score_total', 'respondents',
            'respondents_active_at_end', 'customers_start', 'customers_end', 'new_customers',
            'acquired_customers', 'retained_customers', 'ordering_customers', 'orders',
            'revenue_eur', 'gross_margin_eur'
        ] %}
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
