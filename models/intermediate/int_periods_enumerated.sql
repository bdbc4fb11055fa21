with

orders as (
    select order_date as activity_date from {{ ref('stg_orders') }}
),

responses as (
    select cast(responded_at as date) as activity_date from {{ ref('stg_survey_responses') }}
),

activity as (
    select * from orders
    union all
    select * from responses
),

bounds as (
    select
        cast({{ dbt.date_trunc('month', 'min(activity_date)') }} as date) as first_month_start,
        max(activity_date) as last_date
    from activity
),

-- 1,200 months (100 years) is far more than any data set here spans.
month_numbers as (
    {{ dbt.generate_series(1200) }}
),

months as (
    select
        cast(
            {{ dbt.dateadd('month', 'month_numbers.generated_number - 1', 'bounds.first_month_start') }}
            as date
        ) as month_start
    from bounds
    cross join month_numbers
    where
        {{ dbt.dateadd('month', 'month_numbers.generated_number - 1', 'bounds.first_month_start') }}
        <= bounds.last_date
),

periods as (
    {% for grain in var('period_grains') %}
        select distinct
            '{{ grain }}' as period_grain,
            cast({{ dbt.date_trunc(grain, 'month_start') }} as date) as period_start,
            {{ dbt.last_day(dbt.date_trunc(grain, 'month_start'), grain) }} as period_end
        from months
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

final as (
    select
        period_grain,
        period_start,
        cast(period_end as date) as period_end
    from periods
)

select * from final
