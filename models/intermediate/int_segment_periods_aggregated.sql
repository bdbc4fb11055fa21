with

customer_periods as (
    select * from {{ ref('int_customer_periods_summarised') }}
),

periods as (
    select * from {{ ref('int_periods_enumerated') }}
),

segments as (
    {% for segment in var('segments') %}
        select '{{ segment }}' as segment
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

-- Every customer counts in its own segment and in 'All', so the rollup is computed from
-- customers, never averaged from segment values.
reporting_segments as (
    select
        segment,
        segment as reporting_segment
    from segments
    union all
    select
        segment,
        'All' as reporting_segment
    from segments
),

totals as (
    select
        customer_periods.period_grain,
        customer_periods.period_start,
        reporting_segments.reporting_segment as segment,
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
    inner join reporting_segments
        on customer_periods.segment = reporting_segments.segment
    group by
        customer_periods.period_grain,
        customer_periods.period_start,
        reporting_segments.reporting_segment
),

all_segments as (
    select distinct reporting_segment as segment from reporting_segments
),

final as (
    select
        periods.period_grain,
        periods.period_start,
        periods.period_end,
        all_segments.segment,
        {% for column in [
            'responses', 'promoters', 'passives', 'detractors', 'score_total', 'respondents',
            'respondents_active_at_end', 'customers_start', 'customers_end', 'new_customers',
            'acquired_customers', 'retained_customers', 'ordering_customers', 'orders',
            'revenue_eur', 'gross_margin_eur'
        ] %}
            coalesce(totals.{{ column }}, 0) as {{ column }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from periods
    cross join all_segments
    left join totals
        on periods.period_grain = totals.period_grain
        and periods.period_start = totals.period_start
        and all_segments.segment = totals.segment
)

select * from final
