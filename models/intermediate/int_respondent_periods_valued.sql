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
    select {{ latest_data_date('orders', 'responses') }} as latest_data_date
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

-- Each account's answers per period of every grain, the last one first (ties: response_id).
ranked_answers as (
    {% for grain in var('period_grains') %}
        select
            customer_id,
            '{{ grain }}' as period_grain,
            {{ grain }}_start as period_start,
            respondent_category,
            row_number() over (
                partition by customer_id, {{ grain }}_start
                order by responded_at desc, response_id desc
            ) as answer_rank
        from responses
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

-- A period's order windows depend only on its last day, and the periods of several grains
-- often end on the same day (a quarter ends with its last month): each account's windows are
-- computed once per distinct period_end, which also makes fewer rows for the join below.
period_ends as (
    select distinct
        customer_id,
        period_end
    from respondent_periods
),

-- The completed orders of the horizon H (var advocacy_horizon_days) before and after
-- period_end: revenue in (period_end - H, period_end] and (period_end, period_end + H]; and
-- activity on period_end + H, an order in the W days up to that day (W <= 2H).
order_windows as (
    select
        period_ends.customer_id,
        period_ends.period_end,
        sum(case
            when completed_orders.order_date <= period_ends.period_end
                then completed_orders.amount_eur
        end) as revenue_prior_eur,
        sum(case
            when completed_orders.order_date > period_ends.period_end
                then completed_orders.amount_eur
        end) as revenue_next_eur,
        sum(case
            when completed_orders.order_date > {{ dbt.dateadd(
                'day', var('advocacy_horizon_days') - var('active_window_days'), 'period_ends.period_end'
            ) }}
                then 1
            else 0
        end) as orders_active_at_horizon
    from period_ends
    inner join completed_orders
        on period_ends.customer_id = completed_orders.customer_id
        and completed_orders.order_date
        > {{ dbt.dateadd('day', -var('advocacy_horizon_days'), 'period_ends.period_end') }}
        and completed_orders.order_date
        <= {{ dbt.dateadd('day', var('advocacy_horizon_days'), 'period_ends.period_end') }}
    group by
        period_ends.customer_id,
        period_ends.period_end
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
        ranked_answers.respondent_category as last_answer_category,
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
    inner join ranked_answers
        on respondent_periods.customer_id = ranked_answers.customer_id
        and respondent_periods.period_grain = ranked_answers.period_grain
        and respondent_periods.period_start = ranked_answers.period_start
        and ranked_answers.answer_rank = 1
    left join order_windows
        on respondent_periods.customer_id = order_windows.customer_id
        and respondent_periods.period_end = order_windows.period_end
)

select * from final
