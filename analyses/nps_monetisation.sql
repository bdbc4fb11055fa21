-- NPS monetisation: revenue and gross margin per respondent category (the category of each
-- customer's latest answer, never_surveyed apart): the mart revenue_by_respondent_category,
-- most valuable per account first. Answers "are our promoters worth more?".
select
    respondent_category,
    account_count,
    revenue_eur,
    gross_margin_eur,
    revenue_per_account_eur,
    gross_margin_per_account_eur,
    pct_of_accounts,
    pct_of_revenue
from {{ ref('revenue_by_respondent_category') }}
order by revenue_per_account_eur desc
