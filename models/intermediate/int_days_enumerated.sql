with

periods as (
    select
        period_start,
        period_end
    from {{ ref('int_periods_enumerated') }}
),

bounds as (
    select
        min(period_start) as first_date,
        max(period_end) as last_date
    from periods
),

-- 36,600 days (100 years) is far more than any data set here spans.
day_numbers as (
    {{ dbt.generate_series(36600) }}
),

final as (
    select
        cast(
            {{ dbt.dateadd('day', 'day_numbers.generated_number - 1', 'bounds.first_date') }}
            as date
        ) as date_day
    from bounds
    cross join day_numbers
    where
        {{ dbt.dateadd('day', 'day_numbers.generated_number - 1', 'bounds.first_date') }}
        <= bounds.last_date
)

select * from final
