with

predictions as (
    select * from {{ ref('int_customers_clv_predicted') }}
),

segments as (
    select
        segment,
        calibration_end_date,
        probability_alive,
        expected_purchases_12m,
        predicted_clv_12m
    from predictions
    union all
    select
        'All' as segment,
        calibration_end_date,
        probability_alive,
        expected_purchases_12m,
        predicted_clv_12m
    from predictions
),

-- Exact sums and means (macros exact_sum, exact_mean): a plain sum of doubles adds in the order
-- DuckDB's threads meet the rows, and its last digits differed between two builds of the same
-- data (every segment, at 10M and at 100M orders).
final as (
    select
        segment,
        max(calibration_end_date) as calibration_end_date,
        count(*) as customers,
        {{ exact_sum('probability_alive') }} as expected_alive_customers,
        {{ exact_mean('probability_alive') }} as mean_probability_alive,
        {{ exact_sum('expected_purchases_12m') }} as expected_purchases_12m,
        {{ exact_sum('predicted_clv_12m') }} as predicted_clv_12m,
        {{ exact_mean('predicted_clv_12m') }} as mean_predicted_clv_12m
    from segments
    group by segment
)

select * from final
