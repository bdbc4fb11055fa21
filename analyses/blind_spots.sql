-- Blind spots: high-value accounts (the top 20% by lifetime revenue) that were never
-- surveyed, or whose latest answer is more than 12 months older than the latest data date:
-- the mart blind_spot_accounts (the rule is in its SQL and YAML), largest first.
select
    customer_id,
    segment,
    country,
    lifetime_revenue_eur,
    is_active,
    last_responded_at,
    blind_spot
from {{ ref('blind_spot_accounts') }}
order by lifetime_revenue_eur desc, customer_id asc
