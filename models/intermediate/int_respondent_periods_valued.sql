with

customer_periods as (
    select * from {{ ref('int_customer_periods_summarised') }}
),

orders as (
    select * from {{ ref('stg_orders') }}
),

responses as (
    select * from {{ ref('int_survey_responses_categorised') }}
),

latest as (
    select {{ latest_data_date(ref('stg_orders'), ref('int_survey_responses_categorised')) }} as latest_data_date
),

respondent_periods as (
    select
        customer_id,
        segment,
        country,
        period_grain,
        period_start,
        period_end,
        responses,
        score_total
    from customer_periods
    where has_responded
),

-- Each answer with the periods of its account's next answer (ties: response_id), one window for
-- every grain: an account's last answer in a period is the one whose next answer lies in a
-- later period, or that has none.
answers_in_order as (
    select
        customer_id,
        respondent_category,
        {% for grain in var('period_grains') %}
            {{ grain }}_start,
            lead({{ grain }}_start) over (
                partition by customer_id order by responded_at, response_id
            ) as next_{{ grain }}_start{% if not loop.last %},{% endif %}
        {% endfor %}
    from responses
),

last_answers as (
    {% for grain in var('period_grains') %}
        select
            customer_id,
            '{{ grain }}' as period_grain,
            {{ grain }}_start as period_start,
            respondent_category
        from answers_in_order
        where next_{{ grain }}_start is null or next_{{ grain }}_start <> {{ grain }}_start
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

completed_orders as (
    select
        customer_id,
        order_date,
        amount_eur
    from orders
    where status = 'completed'
),

-- The completed orders of the horizon H (var advocacy_horizon_days) before and after
-- period_end: revenue in (period_end - H, period_end] and (period_end, period_end + H]; and
-- activity on period_end + H, an order in the W days up to that day (W <= 2H).
order_windows as (
    select
        respondent_periods.customer_id,
        respondent_periods.period_grain,
        respondent_periods.period_start,
        sum(case
            when completed_orders.order_date <= respondent_periods.period_end
                then completed_orders.amount_eur
        end) as revenue_prior_eur,
        sum(case
            when completed_orders.order_date > respondent_periods.period_end
                then completed_orders.amount_eur
        end) as revenue_next_eur,
        sum(case
            when completed_orders.order_date > {{ dbt.dateadd(
                'day', var('advocacy_horizon_days') - var('active_window_days'), 'respondent_periods.period_end'
            ) }}
                then 1
            else 0
        end) as orders_active_at_horizon
    from respondent_periods
    inner join completed_orders
        on respondent_periods.customer_id = completed_orders.customer_id
        and completed_orders.order_date
        > {{ dbt.dateadd('day', -var('advocacy_horizon_days'), 'respondent_periods.period_end') }}
        and completed_orders.order_date
        <= {{ dbt.dateadd('day', var('advocacy_horizon_days'), 'respondent_periods.period_end') }}
    group by
        respondent_periods.customer_id,
        respondent_periods.period_grain,
        respondent_periods.period_start
),

final as (
    select
        respondent_periods.customer_id,
        respondent_periods.segment,
        respondent_periods.country,
        respondent_periods.period_grain,
        respondent_periods.period_start,
        respondent_periods.period_end,
        {{ account_category('respondent_periods.score_total', 'respondent_periods.responses') }}
            as account_category,
        last_answers.respondent_category as last_answer_category,
        coalesce(order_windows.revenue_prior_eur, 0) as revenue_prior_12m_eur,
        -- A horizon ending after the latest data date is not in the data yet: null, not zero.
        case
            when {{ is_horizon_observed('respondent_periods.period_end', 'latest.latest_data_date') }}
                then coalesce(order_windows.revenue_next_eur, 0)
        end as revenue_next_12m_eur,
        case
            when {{ is_horizon_observed('respondent_periods.period_end', 'latest.latest_data_date') }}
                then coalesce(order_windows.orders_active_at_horizon, 0) > 0
        end as is_active_12m_later
    from respondent_periods
    cross join latest
    inner join last_answers
        on respondent_periods.customer_id = last_answers.customer_id
        and respondent_periods.period_grain = last_answers.period_grain
        and respondent_periods.period_start = last_answers.period_start
    left join order_windows
        on respondent_periods.customer_id = order_windows.customer_id
        and respondent_periods.period_grain = order_windows.period_grain
        and respondent_periods.period_start = order_windows.period_start
)

select * from final
