with

segment_periods as (
    select * from {{ ref('int_segment_periods_aggregated') }}
),

final as (
    select
        period_grain,
        period_start,
        period_end,
        segment,
        cast(customers_start as {{ dbt.type_bigint() }}) as customers_start,
        cast(customers_end as {{ dbt.type_bigint() }}) as customers_end,
        cast(new_customers as {{ dbt.type_bigint() }}) as new_customers,
        cast(acquired_customers as {{ dbt.type_bigint() }}) as acquired_customers,
        cast({{ reactivated_customers('new_customers', 'acquired_customers') }} as {{ dbt.type_bigint() }})
            as reactivated_customers,
        cast(retained_customers as {{ dbt.type_bigint() }}) as retained_customers,
        cast({{ churned_customers('customers_start', 'retained_customers') }} as {{ dbt.type_bigint() }})
            as churned_customers,
        cast({{ retention_rate('customers_start', 'customers_end', 'new_customers') }} as {{ type_double() }})
            as retention_rate,
        cast(
            {{ churn_rate(retention_rate('customers_start', 'customers_end', 'new_customers')) }}
            as {{ type_double() }}
        ) as churn_rate
    from segment_periods
)

select * from final
