with

checked as (
    select * from {{ ref('stg_orders_checked') }}
),

final as (
    select
        order_id,
        customer_id,
        order_date,
        status,
        amount_eur,
        cost_eur,
        checked_at
    from checked
    where reason is null
)

select * from final
