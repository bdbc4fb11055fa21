with

customer_periods as (
    select * from {{ ref('int_customer_periods_summarised') }}
),

periods as (
    select * from {{ ref('int_periods_enumerated') }}
),

segments as (
    {% for segment in var('segments') + ['All'] %}
        select '{{ segment }}' as segment
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

-- Each segment's totals and, in the same pass, the totals over all customers (segment 'All'),
-- so the rollup is computed from customers, never averaged from segment values.
totals as (
    select
        period_grain,
        period_start,
        coalesce(segment, 'All') as segment,
        sum(responses) as responses,
        sum(promoters) as promoters,
        sum(passives) as passives,
        sum(detractors) as detractors,
        sum(score_total) as score_total,
        sum(case when has_responded then 1 else 0 end) as respondents,
        sum(case when has_responded and is_active_at_end then 1 else 0 end)
            as respondents_active_at_end,
        sum(case when is_active_at_start then 1 else 0 end) as customers_start,
        sum(case when is_active_at_end then 1 else 0 end) as customers_end,
        sum(case when is_new then 1 else 0 end) as new_customers,
        sum(case when is_acquired then 1 else 0 end) as acquired_customers,
        sum(case when is_retained then 1 else 0 end) as retained_customers,
        sum(case when has_completed_order then 1 else 0 end) as ordering_customers,
        sum(completed_orders) as orders,
        sum(revenue_eur) as revenue_eur,
        sum(gross_margin_eur) as gross_margin_eur
    from customer_periods
    group by grouping sets ((period_grain, period_start, segment), (period_grain, period_start))
),

final as (
    select
        periods.period_grain,
        periods.period_start,
        periods.period_end,
        segments.segment,
        {% for column in [
            'responses', 'promoters', 'passives', 'detractors', 'score_total', 'respondents',
            'respondents_active_at_end', 'customers_start', 'customers_end', 'new_customers',
            'acquired_customers', 'retained_customers', 'ordering_customers', 'orders',
            'revenue_eur', 'gross_margin_eur'
        ] %}
            coalesce(totals.{{ column }}, 0) as {{ column }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from periods
    cross join segments
    left join totals
        on periods.period_grain = totals.period_grain
        and periods.period_start = totals.period_start
        and segments.segment = totals.segment
)

select * from final
