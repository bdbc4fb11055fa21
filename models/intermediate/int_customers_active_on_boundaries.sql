-- depends_on: {{ ref('stg_orders_checked') }}

with

completed_orders as (
    select
        customer_id,
        order_date
    from {{ ref('stg_orders') }}
    where status = 'completed'
),

-- Incremental run: activity on a day from changed_from on depends only on the orders of the
-- window before it.
window_orders as (
    select * from completed_orders
    {% if is_incremental() %}
        where order_date > {{ dbt.dateadd('day', -var('active_window_days'), changed_from()) }}
    {% endif %}
),

periods as (
    select
        period_start,
        period_end
    from {{ ref('int_periods_enumerated') }}
),

-- The days on which the period marts measure activity: the day before each period starts and
-- the day each period ends.
boundary_days as (
    select as_of_date
    from (
        select cast({{ dbt.dateadd('day', -1, 'period_start') }} as date) as as_of_date from periods
        union
        select period_end as as_of_date from periods
    ) as all_boundary_days
    {% if is_incremental() %}
        where as_of_date >= {{ changed_from() }}
    {% endif %}
),

-- Several orders on one day are one activity day: the windows below then order each
-- customer's rows totally (by a distinct date), so every evaluation sees the same sequence.
activity_days as (
    select distinct
        customer_id,
        order_date
    from window_orders
),

ordered as (
    select
        customer_id,
        order_date,
        lag(order_date) over (partition by customer_id order by order_date) as previous_order_date
    from activity_days
),

-- Gaps and islands: an order starts a new spell when the previous one's window has ended.
spell_starts as (
    select
        customer_id,
        order_date,
        case
            when previous_order_date is null then 1
            when order_date > {{ active_until('previous_order_date') }} then 1
            else 0
        end as is_spell_start
    from ordered
),

numbered as (
    select
        customer_id,
        order_date,
        sum(is_spell_start) over (
            partition by customer_id order by order_date rows between unbounded preceding and current row
        ) as spell_number
    from spell_starts
),

spells as (
    select
        customer_id,
        min(order_date) as active_from,
        cast({{ active_until('max(order_date)') }} as date) as active_until
    from numbered
    group by customer_id, spell_number
),

final as (
    select
        spells.customer_id,
        boundary_days.as_of_date,
        {{ run_stamp() }} as computed_at
    from boundary_days
    inner join spells
        on boundary_days.as_of_date >= spells.active_from
        and boundary_days.as_of_date <= spells.active_until
)

select * from final
