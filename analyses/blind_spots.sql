-- Blind spots: high-value accounts (the top 20% by lifetime revenue) that were never
-- surveyed, or whose latest answer is more than 12 months older than the latest data date.
-- Nobody knows whether these accounts would recommend us; they should be asked first.
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
order by lifetime_revenue_eur desc
