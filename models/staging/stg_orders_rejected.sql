with

checked as (
    select * from {{ ref('stg_orders_checked') }}
),

final as (
    select
        source_row_key,
        raw_order_id as order_id,
        raw_customer_id as customer_id,
        raw_order_date as order_date,
        raw_status as status,
        raw_amount_eur as amount_eur,
        raw_cost_eur as cost_eur,
        reason
    from checked
    where reason is not null
)

select * from final
