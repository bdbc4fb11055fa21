with

customer_periods as (
    select * from {{ ref('int_customer_periods_summarised') }}
),

final as (
    select
        period_grain,
        period_start,
        segment,
        country,
        sum(responses) as responses,
        sum(promoters) as promoters,
        sum(passives) as passives,
        sum(detractors) as detractors,
        sum(score_total) as score_total,
        sum(case when has_responded then 1 else 0 end) as respondents,
        sum(case when has_responded and is_active_at_end then 1 else 0 end) as respondents_active_at_end,
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
    group by
        period_grain,
        period_start,
        segment,
        country
)

select * from final
