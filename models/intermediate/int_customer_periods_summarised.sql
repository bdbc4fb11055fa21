-- depends_on: {{ ref('stg_orders_checked') }}, {{ ref('stg_survey_responses_checked') }}

with

customers as (
    select
        customer_id,
        segment
    from {{ ref('stg_customers') }}
),

completed_orders as (
    select
        customer_id,
        order_date,
        amount_eur,
        cost_eur
    from {{ ref('stg_orders') }}
    where status = 'completed'
),

responses as (
    select
        customer_id,
        response_date,
        score,
        respondent_category
    from {{ ref('int_survey_responses_categorised') }}
),

active_days as (
    select
        customer_id,
        as_of_date
    from {{ ref('int_customers_active_on_boundaries') }}
),

periods as (
    select
        period_grain,
        period_start,
        period_end
    from {{ ref('int_periods_enumerated') }}
    {% if is_incremental() %}
        -- Incremental run: only the periods that orders or responses judged since the last run
        -- can change.
        where period_end >= {{ changed_from(responses=true) }}
    {% endif %}
),

first_orders as (
    select
        customer_id,
        min(order_date) as first_order_date
    from completed_orders
    group by customer_id
),

active_at_start as (
    select
        active_days.customer_id,
        periods.period_grain,
        periods.period_start
    from periods
    inner join active_days
        on active_days.as_of_date = cast({{ dbt.dateadd('day', -1, 'periods.period_start') }} as date)
),

active_at_end as (
    select
        active_days.customer_id,
        periods.period_grain,
        periods.period_start
    from periods
    inner join active_days
        on periods.period_end = active_days.as_of_date
),

orders_in_period as (
    select
        completed_orders.customer_id,
        periods.period_grain,
        periods.period_start,
        count(*) as completed_orders,
        sum(completed_orders.amount_eur) as revenue_eur,
        sum(completed_orders.amount_eur - completed_orders.cost_eur) as gross_margin_eur
    from completed_orders
    inner join periods
        on completed_orders.order_date >= periods.period_start
        and completed_orders.order_date <= periods.period_end
    group by completed_orders.customer_id, periods.period_grain, periods.period_start
),

responses_in_period as (
    select
        responses.customer_id,
        periods.period_grain,
        periods.period_start,
        count(*) as responses,
        sum(case when responses.respondent_category = 'promoter' then 1 else 0 end) as promoters,
        sum(case when responses.respondent_category = 'passive' then 1 else 0 end) as passives,
        sum(case when responses.respondent_category = 'detractor' then 1 else 0 end) as detractors,
        sum(responses.score) as score_total
    from responses
    inner join periods
        on responses.response_date >= periods.period_start
        and responses.response_date <= periods.period_end
    group by responses.customer_id, periods.period_grain, periods.period_start
),

customer_periods as (
    select
        customer_id,
        period_grain,
        period_start
    from active_at_start
    union
    select
        customer_id,
        period_grain,
        period_start
    from active_at_end
    union
    select
        customer_id,
        period_grain,
        period_start
    from orders_in_period
    union
    select
        customer_id,
        period_grain,
        period_start
    from responses_in_period
),

flagged as (
    select
        customer_periods.customer_id,
        customers.segment,
        customer_periods.period_grain,
        customer_periods.period_start,
        periods.period_end,
        first_orders.first_order_date,
        active_at_start.customer_id is not null as is_active_at_start,
        active_at_end.customer_id is not null as is_active_at_end,
        coalesce(orders_in_period.completed_orders, 0) as completed_orders,
        coalesce(orders_in_period.revenue_eur, 0) as revenue_eur,
        coalesce(orders_in_period.gross_margin_eur, 0) as gross_margin_eur,
        coalesce(responses_in_period.responses, 0) as responses,
        coalesce(responses_in_period.promoters, 0) as promoters,
        coalesce(responses_in_period.passives, 0) as passives,
        coalesce(responses_in_period.detractors, 0) as detractors,
        coalesce(responses_in_period.score_total, 0) as score_total
    from customer_periods
    inner join customers
        on customer_periods.customer_id = customers.customer_id
    inner join periods
        on customer_periods.period_grain = periods.period_grain
        and customer_periods.period_start = periods.period_start
    left join first_orders
        on customer_periods.customer_id = first_orders.customer_id
    left join active_at_start
        on customer_periods.customer_id = active_at_start.customer_id
        and customer_periods.period_grain = active_at_start.period_grain
        and customer_periods.period_start = active_at_start.period_start
    left join active_at_end
        on customer_periods.customer_id = active_at_end.customer_id
        and customer_periods.period_grain = active_at_end.period_grain
        and customer_periods.period_start = active_at_end.period_start
    left join orders_in_period
        on customer_periods.customer_id = orders_in_period.customer_id
        and customer_periods.period_grain = orders_in_period.period_grain
        and customer_periods.period_start = orders_in_period.period_start
    left join responses_in_period
        on customer_periods.customer_id = responses_in_period.customer_id
        and customer_periods.period_grain = responses_in_period.period_grain
        and customer_periods.period_start = responses_in_period.period_start
),

final as (
    select
        customer_id,
        segment,
        period_grain,
        period_start,
        period_end,
        is_active_at_start,
        is_active_at_end,
        completed_orders,
        revenue_eur,
        gross_margin_eur,
        responses,
        promoters,
        passives,
        detractors,
        score_total,
        is_active_at_end and not is_active_at_start as is_new,
        is_active_at_end and not is_active_at_start
        and first_order_date >= period_start
        and first_order_date <= period_end as is_acquired,
        is_active_at_start and is_active_at_end as is_retained,
        completed_orders > 0 as has_completed_order,
        responses > 0 as has_responded,
        {{ run_stamp() }} as computed_at
    from flagged
)

select * from final
