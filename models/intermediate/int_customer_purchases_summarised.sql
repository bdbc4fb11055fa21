with

orders as (
    select * from {{ ref('stg_orders') }}
),

customers as (
    select * from {{ ref('stg_customers') }}
),

responses as (
    select * from {{ ref('int_survey_responses_categorised') }}
),

calibration as (
    select
        {% if var('clv_calibration_end') %}
            cast('{{ var("clv_calibration_end") }}' as date)
        {% else %}
            {{ latest_data_date('orders', 'responses') }}
        {% endif %} as calibration_end_date
),

purchases as (
    select
        customer_id,
        order_date as purchase_date,
        amount_eur as amount
    from orders
    where status = 'completed'
),

summary as (
    {{ purchase_summary(
        'purchases',
        '(select calibration.calibration_end_date from calibration)',
        var('clv_time_unit'),
    ) }}
),

margins as (
    select
        orders.customer_id,
        sum(orders.amount_eur - orders.cost_eur) as gross_margin_eur,
        sum(orders.amount_eur) as revenue_eur
    from orders
    cross join calibration
    where orders.status = 'completed' and orders.order_date <= calibration.calibration_end_date
    group by orders.customer_id
),

final as (
    select
        summary.customer_id,
        customers.segment,
        calibration.calibration_end_date,
        '{{ var("clv_time_unit") }}' as time_unit,
        summary.first_purchase_date,
        summary.last_purchase_date,
        summary.frequency,
        summary.recency,
        summary.customer_age,
        summary.mean_repeat_value as mean_repeat_value_eur,
        case
            when margins.revenue_eur > 0
                then {{ as_double('margins.gross_margin_eur') }} / {{ as_double('margins.revenue_eur') }}
        end as gross_margin_ratio,
        {{ discount_rate("'month'") }} as monthly_discount_rate
    from summary
    inner join customers
        on summary.customer_id = customers.customer_id
    inner join margins
        on summary.customer_id = margins.customer_id
    cross join calibration
)

select * from final
