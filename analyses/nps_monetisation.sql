-- NPS monetisation: revenue and gross margin per respondent category.
-- Groups customers by the category of their latest survey answer (never_surveyed apart) and
-- shows how many accounts, how much lifetime revenue and margin each group brings, per
-- customer and as a share of the total. Answers "are our promoters worth more?".
-- Compile with `dbt compile --select nps_monetisation` and run the SQL in target/compiled.
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

final as (
    select
        respondent_category,
        account_count,
        revenue_eur,
        gross_margin_eur,
        revenue_eur / account_count as revenue_per_account_eur,
        gross_margin_eur / account_count as gross_margin_per_account_eur,
        100.0 * revenue_eur / sum(revenue_eur) over () as pct_of_revenue
    from by_category
)

select * from final
order by revenue_per_account_eur desc
