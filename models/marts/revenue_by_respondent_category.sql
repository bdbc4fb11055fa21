with

customers as (
    select * from {{ ref('customers') }}
),

by_category as (
    select
        coalesce(latest_category, 'never_surveyed') as respondent_category,
        count(*) as account_count,
        sum(lifetime_revenue_eur) as revenue_eur,
        sum(lifetime_gross_margin_eur) as gross_margin_eur
    from customers
    group by coalesce(latest_category, 'never_surveyed')
),

totals as (
    select
        sum(account_count) as account_count,
        sum(revenue_eur) as revenue_eur
    from by_category
),

final as (
    select
        by_category.respondent_category,
        cast(by_category.account_count as {{ dbt.type_bigint() }}) as account_count,
        cast(by_category.revenue_eur as decimal(18, 2)) as revenue_eur,
        cast(by_category.gross_margin_eur as decimal(18, 2)) as gross_margin_eur,
        cast({{ per('by_category.revenue_eur', 'by_category.account_count') }} as {{ type_double() }})
            as revenue_per_account_eur,
        cast({{ per('by_category.gross_margin_eur', 'by_category.account_count') }} as {{ type_double() }})
            as gross_margin_per_account_eur,
        cast({{ share_pct('by_category.account_count', 'totals.account_count') }} as {{ type_double() }})
            as pct_of_accounts,
        cast({{ share_pct('by_category.revenue_eur', 'totals.revenue_eur') }} as {{ type_double() }})
            as pct_of_revenue
    from by_category
    cross join totals
)

select * from final
