-- Predictive CLV adds up: the All row of predicted_clv_by_segment equals the sum of the segment
-- rows (customers, expected alive customers, CLV), and its sums equal those over the customers
-- mart's predictions. Sums of nothing but nulls (models not fitted) count as 0. Rows returned =
-- failures. The tolerance is relative, 1e-9: summing n doubles in another order moves the sum
-- by at most about n x 1.1e-16 of it (5e-10 for the 4.7M customers of 100M orders), while one
-- customer missing moves it by far more (a probability alive of 0.01 in 4M is 2.5e-9).
-- The Dagster code location shows this test as a check on predicted_clv_by_segment (orchestration.py).
{{ config(meta={'dagster': {'ref': {'name': 'predicted_clv_by_segment'}}}) }}
{{ config(enabled=target.type == 'duckdb') }}

with

by_segment as (
    select * from {{ ref('predicted_clv_by_segment') }}
),

customers as (
    select * from {{ ref('customers') }}
),

rollup as (
    select
        customers,
        expected_alive_customers,
        predicted_clv_12m
    from by_segment
    where segment = 'All'
),

segment_sums as (
    select
        'segments' as compared_with,
        sum(customers) as customers,
        sum(expected_alive_customers) as expected_alive_customers,
        sum(predicted_clv_12m) as predicted_clv_12m
    from by_segment
    where segment <> 'All'
),

customer_sums as (
    select
        'customers mart' as compared_with,
        cast(null as bigint) as customers,
        sum(probability_alive) as expected_alive_customers,
        sum(predicted_clv_12m) as predicted_clv_12m
    from customers
),

others as (
    select * from segment_sums
    union all
    select * from customer_sums
),

compared as (
    select
        others.compared_with,
        rollup.customers as rollup_customers,
        others.customers as other_customers,
        coalesce(rollup.expected_alive_customers, 0)
        - coalesce(others.expected_alive_customers, 0) as alive_difference,
        coalesce(rollup.predicted_clv_12m, 0) - coalesce(others.predicted_clv_12m, 0) as clv_difference,
        rollup.expected_alive_customers as rollup_alive,
        rollup.predicted_clv_12m as rollup_clv
    from rollup
    cross join others
)

select *
from compared
where
    rollup_customers <> coalesce(other_customers, rollup_customers)
    or abs(alive_difference) > 1e-9 * greatest(abs(coalesce(rollup_alive, 0)), 1)
    or abs(clv_difference) > 1e-9 * greatest(abs(coalesce(rollup_clv, 0)), 1)
