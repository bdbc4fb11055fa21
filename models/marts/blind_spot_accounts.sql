with

customers as (
    select * from {{ ref('customers') }}
),

ranked as (
    select
        *,
        percent_rank() over (order by lifetime_revenue_eur) as revenue_percent_rank
    from customers
    where lifetime_orders > 0
),

final as (
    select
        customer_id,
        segment,
        country,
        lifetime_revenue_eur,
        is_active,
        last_responded_at,
        case
            when last_responded_at is null then 'never surveyed'
            else 'no answer in the last 12 months'
        end as blind_spot
    from ranked
    where
        revenue_percent_rank >= 0.8
        and (
            last_responded_at is null
            or cast(last_responded_at as date)
            <= {{ dbt.dateadd('month', -12, 'latest_data_date') }}
        )
)

select * from final
