-- Revenue concentration: the share of lifetime revenue that comes from the top 20% of
-- accounts (by lifetime revenue), per segment and over all accounts. A high share means a few
-- lost accounts hurt a lot, which in B2B is the usual case.
with

customers as (
    select * from {{ ref('customers') }}
    where lifetime_orders > 0
),

segments as (
    select
        segment as scope,
        customer_id,
        lifetime_revenue_eur
    from customers
    union all
    select
        'All' as scope,
        customer_id,
        lifetime_revenue_eur
    from customers
),

ranked as (
    select
        scope,
        lifetime_revenue_eur,
        row_number() over (
            partition by scope order by lifetime_revenue_eur desc, customer_id asc
        ) as revenue_rank,
        count(*) over (partition by scope) as account_count
    from segments
),

final as (
    select
        scope,
        max(account_count) as account_count,
        sum(lifetime_revenue_eur) as revenue_eur,
        100.0 * sum(case when revenue_rank <= ceiling(0.2 * account_count) then lifetime_revenue_eur end)
        / sum(lifetime_revenue_eur) as pct_revenue_from_top_20_pct
    from ranked
    group by scope
)

select * from final
order by scope
