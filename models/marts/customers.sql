with

customers as (
    select * from {{ ref('stg_customers') }}
),

orders as (
    select * from {{ ref('stg_orders') }}
),

responses as (
    select * from {{ ref('int_survey_responses_categorised') }}
),

{# Predictions come from dbt Python models, which only DuckDB runs (dbt-postgres and
    dbt-spark's session method cannot): on the other engines the columns are null. #}
{% if target.type == 'duckdb' %}
    predictions as (
        select * from {{ ref('int_customers_clv_predicted') }}
    ),
{% endif %}

latest as (
    select {{ latest_data_date('orders', 'responses') }} as latest_data_date
),

order_totals as (
    select
        customer_id,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        count(*) as lifetime_orders,
        sum(amount_eur) as lifetime_revenue_eur,
        sum(amount_eur - cost_eur) as lifetime_gross_margin_eur
    from orders
    where status = 'completed'
    group by customer_id
),

-- Each customer's responses, the latest first (ties: response_id), with the category of the
-- one before it: one window, no second pass over the responses.
ranked_responses as (
    select
        customer_id,
        responded_at,
        score,
        respondent_category,
        lead(respondent_category) over latest_first as previous_category,
        row_number() over latest_first as recency_rank,
        count(*) over (partition by customer_id) as responses
    from responses
    window latest_first as (partition by customer_id order by responded_at desc, response_id desc)
),

latest_responses as (
    select
        customer_id,
        responses,
        responded_at as last_responded_at,
        score as latest_score,
        respondent_category as latest_category,
        previous_category
    from ranked_responses
    where recency_rank = 1
),

final as (
    select
        customers.customer_id,
        customers.segment,
        customers.country,
        customers.signup_date,
        order_totals.first_order_date,
        order_totals.last_order_date,
        cast(coalesce(order_totals.lifetime_orders, 0) as {{ dbt.type_bigint() }}) as lifetime_orders,
        cast(coalesce(order_totals.lifetime_revenue_eur, 0) as decimal(18, 2)) as lifetime_revenue_eur,
        cast(coalesce(order_totals.lifetime_gross_margin_eur, 0) as decimal(18, 2))
            as lifetime_gross_margin_eur,
        coalesce(
            order_totals.last_order_date <= latest.latest_data_date
            and {{ active_until('order_totals.last_order_date') }} >= latest.latest_data_date,
            false
        ) as is_active,
        latest.latest_data_date,
        cast(coalesce(latest_responses.responses, 0) as {{ dbt.type_bigint() }}) as responses,
        latest_responses.last_responded_at,
        cast(latest_responses.latest_score as {{ dbt.type_int() }}) as latest_score,
        latest_responses.latest_category,
        latest_responses.previous_category,
        case
            when latest_responses.customer_id is null then 'never_surveyed'
            when latest_responses.previous_category is null then 'new'
            when {{ category_rank('latest_responses.latest_category') }}
                > {{ category_rank('latest_responses.previous_category') }} then 'climber'
            when {{ category_rank('latest_responses.latest_category') }}
                < {{ category_rank('latest_responses.previous_category') }} then 'faller'
            else 'stable'
        end as advocacy_trend,
        {% if target.type == 'duckdb' %}
            predictions.probability_alive,
            predictions.expected_purchases_12m,
            predictions.predicted_clv_12m
        {% else %}
            cast(null as {{ type_double() }}) as probability_alive,
            cast(null as {{ type_double() }}) as expected_purchases_12m,
            cast(null as {{ type_double() }}) as predicted_clv_12m
        {% endif %}
    from customers
    cross join latest
    left join order_totals
        on customers.customer_id = order_totals.customer_id
    left join latest_responses
        on customers.customer_id = latest_responses.customer_id
    {% if target.type == 'duckdb' %}
        left join predictions
            on customers.customer_id = predictions.customer_id
    {% endif %}
)

select * from final
