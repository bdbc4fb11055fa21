with

segment_periods as (
    select * from {{ ref('int_segment_periods_aggregated') }}
),

inputs as (
    select
        period_grain,
        period_start,
        period_end,
        segment,
        ordering_customers as active_customers,
        orders,
        revenue_eur as revenue,
        gross_margin_eur as gross_margin,
        {{ margin_per_customer('gross_margin_eur', 'ordering_customers') }} as margin_per_customer,
        {{ retention_rate('customers_start', 'customers_end', 'new_customers') }} as retention_rate,
        {{ discount_rate('period_grain') }} as discount_rate
    from segment_periods
),

final as (
    select
        period_grain,
        period_start,
        period_end,
        segment,
        cast(active_customers as {{ dbt.type_bigint() }}) as active_customers,
        cast(orders as {{ dbt.type_bigint() }}) as orders,
        cast(revenue as decimal(18, 2)) as revenue,
        cast(gross_margin as decimal(18, 2)) as gross_margin,
        {{ avg_order_value('revenue', 'orders') }} as avg_order_value,
        {{ purchase_frequency('orders', 'active_customers') }} as purchase_frequency,
        cast(margin_per_customer as {{ type_double() }}) as margin_per_customer,
        cast(retention_rate as {{ type_double() }}) as retention_rate,
        cast(discount_rate as {{ type_double() }}) as discount_rate,
        cast({{ expected_lifetime_periods('retention_rate') }} as {{ type_double() }})
            as expected_lifetime_periods,
        cast({{ clv('margin_per_customer', 'retention_rate', 'discount_rate') }} as {{ type_double() }})
            as clv
    from inputs
)

select * from final
