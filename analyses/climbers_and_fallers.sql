-- Climbers and fallers: accounts whose respondent category changed between their last two
-- answers (e.g. passive -> promoter is a climber, promoter -> detractor a faller), with the
-- account's revenue, so that the biggest movers show first. Fallers deserve a call.
with

customers as (
    select * from {{ ref('customers') }}
),

final as (
    select
        advocacy_trend,
        customer_id,
        segment,
        previous_category,
        latest_category,
        latest_score,
        last_responded_at,
        lifetime_revenue_eur,
        is_active
    from customers
    where advocacy_trend in ('climber', 'faller')
)

select * from final
order by advocacy_trend asc, lifetime_revenue_eur desc
