with

customer_periods as (
    select * from {{ ref('int_customer_periods_summarised') }}
),

final as (
    select
        customer_id,
        period_grain,
        period_start,
        period_end,
        is_active_at_start,
        is_active_at_end,
        is_new,
        is_acquired,
        is_retained
    from customer_periods
)

select * from final
