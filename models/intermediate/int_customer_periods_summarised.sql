-- depends_on: {{ ref('stg_orders_checked') }}, {{ ref('stg_survey_responses_checked') }}

with

customers as (
    select
        customer_id,
        segment,
        country
    from {{ ref('stg_customers') }}
),

completed_orders as {{ not_materialized(in_incremental_runs=true) }} (
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

-- Read by every grain: scanned again each time rather than stored whole as a CTE.
active_days as {{ not_materialized(in_incremental_runs=true) }} (
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

-- Every period is a whole number of months, so a period's orders and responses are the sums of
-- its months': each order and response is read once (not once per grain), and a month maps to
-- its period by an equality, not a range.
orders_by_month as (
    select
        customer_id,
        cast({{ dbt.date_trunc('month', 'order_date') }} as date) as month_start,
        count(*) as completed_orders,
        {{ sum_money('amount_eur') }} as revenue_eur,
        {{ sum_money('amount_eur - cost_eur') }} as gross_margin_eur
    from completed_orders
    group by customer_id, cast({{ dbt.date_trunc('month', 'order_date') }} as date)
),

responses_by_month as (
    select
        customer_id,
        cast({{ dbt.date_trunc('month', 'response_date') }} as date) as month_start,
        count(*) as responses,
        -- Counts and score sums as bigint: DuckDB sums integers into 128-bit integers, whose
        -- arithmetic made the customer-period aggregate below about 10% slower at 10M orders.
        cast(sum(case when respondent_category = 'promoter' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as promoters,
        cast(sum(case when respondent_category = 'passive' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as passives,
        cast(sum(case when respondent_category = 'detractor' then 1 else 0 end) as {{ dbt.type_bigint() }})
            as detractors,
        cast(sum(score) as {{ dbt.type_bigint() }}) as score_total
    from responses
    group by customer_id, cast({{ dbt.date_trunc('month', 'response_date') }} as date)
),

-- A customer's orders and responses of a month in one row.
monthly_measures as (
    select
        coalesce(orders_by_month.customer_id, responses_by_month.customer_id) as customer_id,
        coalesce(orders_by_month.month_start, responses_by_month.month_start) as month_start,
        coalesce(orders_by_month.completed_orders, 0) as completed_orders,
        coalesce(orders_by_month.revenue_eur, 0) as revenue_eur,
        coalesce(orders_by_month.gross_margin_eur, 0) as gross_margin_eur,
        coalesce(responses_by_month.responses, 0) as responses,
        coalesce(responses_by_month.promoters, 0) as promoters,
        coalesce(responses_by_month.passives, 0) as passives,
        coalesce(responses_by_month.detractors, 0) as detractors,
        coalesce(responses_by_month.score_total, 0) as score_total
    from orders_by_month
    full outer join responses_by_month
        on orders_by_month.customer_id = responses_by_month.customer_id
        and orders_by_month.month_start = responses_by_month.month_start
),

-- Per grain: the months summed into its periods (a month is its own period: no sum), the
-- customers active on the day before a period starts and on its last day, and one row per
-- customer and period with activity at either end, an order or a response: two full joins on
-- the customer and period_start, not one aggregate over a union of every fact (at 10M orders
-- that aggregate took 29 s, the joins 18 s). One grain at a time, the joins' hash tables hold
-- a third of the rows and no grain text: at 100M orders the model took 180 s instead of 260 s
-- (docs/benchmarks.md).
{% set measure_columns = [
    'completed_orders', 'revenue_eur', 'gross_margin_eur', 'responses', 'promoters', 'passives',
    'detractors', 'score_total',
] %}
{% for grain in var('period_grains') %}
    measures_{{ grain }} as (
        select
            monthly_measures.customer_id,
            periods.period_start,
            {% for column in measure_columns %}
                {% if grain == 'month' %}
                    monthly_measures.{{ column }}{% if not loop.last %},{% endif %}
                {% elif column in ('revenue_eur', 'gross_margin_eur') %}
                    {{ sum_money('monthly_measures.' ~ column) }} as {{ column }},
                {% else %}
                    sum(monthly_measures.{{ column }}) as {{ column }}{% if not loop.last %},{% endif %}
                {% endif %}
            {% endfor %}
        from monthly_measures
        inner join periods
            on periods.period_grain = '{{ grain }}'
            and periods.period_start = cast({{ dbt.date_trunc(grain, 'monthly_measures.month_start') }} as date)
        {% if grain != 'month' %}
            group by monthly_measures.customer_id, periods.period_start
        {% endif %}
    ),

    {% for end, day in [
        ('start', dbt.dateadd('day', -1, 'periods.period_start')),
        ('end', 'periods.period_end'),
    ] %}
        active_at_{{ end }}_{{ grain }} as (
            select
                active_days.customer_id,
                periods.period_start
            from periods
            inner join active_days
                on active_days.as_of_date = cast({{ day }} as date)
            where periods.period_grain = '{{ grain }}'
        ),
    {% endfor %}

    activity_{{ grain }} as (
        select
            coalesce(at_start.customer_id, at_end.customer_id) as customer_id,
            coalesce(at_start.period_start, at_end.period_start) as period_start,
            at_start.customer_id is not null as is_active_at_start,
            at_end.customer_id is not null as is_active_at_end
        from active_at_start_{{ grain }} as at_start
        full outer join active_at_end_{{ grain }} as at_end
            on at_start.customer_id = at_end.customer_id
            and at_start.period_start = at_end.period_start
    ),

    customer_periods_{{ grain }} as (
        select
            coalesce(activity.customer_id, measures.customer_id) as customer_id,
            '{{ grain }}' as period_grain,
            coalesce(activity.period_start, measures.period_start) as period_start,
            coalesce(activity.is_active_at_start, false) as is_active_at_start,
            coalesce(activity.is_active_at_end, false) as is_active_at_end,
            {% for column in measure_columns %}
                {% if column in ('revenue_eur', 'gross_margin_eur') %}
                    coalesce(measures.{{ column }}, 0)
                {% else %}
                    cast(coalesce(measures.{{ column }}, 0) as {{ dbt.type_bigint() }})
                {% endif %} as {{ column }}{% if not loop.last %},{% endif %}
            {% endfor %}
        from activity_{{ grain }} as activity
        full outer join measures_{{ grain }} as measures
            on activity.customer_id = measures.customer_id
            and activity.period_start = measures.period_start
    ),
{% endfor %}

customer_periods as (
    {% for grain in var('period_grains') %}
        select * from customer_periods_{{ grain }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

flagged as (
    select
        customer_periods.*,
        customers.segment,
        customers.country,
        periods.period_end,
        first_orders.first_order_date
    from customer_periods
    inner join customers
        on customer_periods.customer_id = customers.customer_id
    inner join periods
        on customer_periods.period_grain = periods.period_grain
        and customer_periods.period_start = periods.period_start
    left join first_orders
        on customer_periods.customer_id = first_orders.customer_id
),

final as (
    select
        customer_id,
        segment,
        country,
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
