with

predictions as (
    select * from {{ ref('int_customers_clv_predicted') }}
),

segments as (
    select
        segment,
        customer_id,
        calibration_end_date,
        probability_alive,
        expected_purchases_12m,
        predicted_clv_12m
    from predictions
    union all
    select
        'All' as segment,
        customer_id,
        calibration_end_date,
        probability_alive,
        expected_purchases_12m,
        predicted_clv_12m
    from predictions
),

final as (
    select
        segment,
        max(calibration_end_date) as calibration_end_date,
        count(*) as customers,
        sum(probability_alive) as expected_alive_customers,
        avg(probability_alive) as mean_probability_alive,
        sum(expected_purchases_12m) as expected_purchases_12m,
        sum(predicted_clv_12m) as predicted_clv_12m,
        avg(predicted_clv_12m) as mean_predicted_clv_12m
    from segments
    group by segment
)

select * from final
