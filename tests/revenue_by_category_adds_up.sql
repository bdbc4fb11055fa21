-- revenue_by_respondent_category covers every customer once: its accounts and revenue add up to
-- the customers mart's, and its shares to 100. Rows returned = failures.
-- The Dagster code location shows this test as a check on revenue_by_respondent_category (orchestration.py).
{{ config(meta={'dagster': {'ref': {'name': 'revenue_by_respondent_category'}}}) }}
with

categories as (
    select
        sum(account_count) as accounts,
        sum(revenue_eur) as revenue_eur,
        sum(pct_of_accounts) as pct_of_accounts,
        sum(pct_of_revenue) as pct_of_revenue
    from {{ ref('revenue_by_respondent_category') }}
),

customers as (
    select
        count(*) as accounts,
        sum(lifetime_revenue_eur) as revenue_eur
    from {{ ref('customers') }}
)

select
    categories.accounts as category_accounts,
    customers.accounts as customer_accounts,
    categories.revenue_eur as category_revenue_eur,
    customers.revenue_eur as customer_revenue_eur,
    categories.pct_of_accounts,
    categories.pct_of_revenue
from categories
cross join customers
where
    categories.accounts <> customers.accounts
    or categories.revenue_eur <> customers.revenue_eur
    or abs(categories.pct_of_accounts - 100) > 1e-9
    or (customers.revenue_eur > 0 and abs(categories.pct_of_revenue - 100) > 1e-9)
