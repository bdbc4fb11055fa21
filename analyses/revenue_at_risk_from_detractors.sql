-- Revenue at risk: active accounts whose latest answer makes them detractors, with the
-- completed-order revenue of their last 12 months before the latest data date, largest first.
-- This is the list a customer-success team works through; the total is the revenue that
-- leaves if these accounts churn.
with

customers as (
    select * from {{ ref('customers') }}
),

orders as (
    select * from {{ ref('stg_orders') }}
),

trailing_revenue as (
    select
        orders.customer_id,
        sum(orders.amount_eur) as revenue_last_12_months_eur
    from orders
    inner join customers
        on orders.customer_id = customers.customer_id
    where
        orders.status = 'completed'
        and orders.order_date > {{ dbt.dateadd('month', -12, 'customers.latest_data_date') }}
    group by orders.customer_id
),

final as (
    select
        customers.customer_id,
        customers.segment,
        customers.country,
        customers.latest_score,
        customers.last_responded_at,
        coalesce(trailing_revenue.revenue_last_12_months_eur, 0) as revenue_last_12_months_eur,
        sum(coalesce(trailing_revenue.revenue_last_12_months_eur, 0)) over ()
            as total_revenue_at_risk_eur
    from customers
    left join trailing_revenue
        on customers.customer_id = trailing_revenue.customer_id
    where customers.is_active and customers.latest_category = 'detractor'
)

select * from final
order by revenue_last_12_months_eur desc
