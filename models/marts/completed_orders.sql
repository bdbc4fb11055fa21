with

orders as (
    select * from {{ ref('stg_orders') }}
),

final as (
    select
        order_id,
        customer_id,
        order_date,
        amount_eur,
        cost_eur
    from orders
    where status = 'completed'
)

select * from final
