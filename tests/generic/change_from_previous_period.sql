{#-
    A change column holds the column minus its value in the previous period of the same grain
    and member of the breakdown `by` (the period ending the day before this one starts); null
    in a grain's first period and wherever either value is null. Returns every mismatch.
-#}
{% test change_from_previous_period(model, column, change_column, by='segment') %}
with

compared as (
    select
        current_period.period_grain,
        current_period.period_start,
        current_period.{{ by }},
        current_period.{{ change_column }} as change_value,
        current_period.{{ column }} - previous_period.{{ column }} as expected_change
    from {{ model }} as current_period
    left join {{ model }} as previous_period
        on current_period.period_grain = previous_period.period_grain
        and current_period.{{ by }} = previous_period.{{ by }}
        and previous_period.period_end
        = cast({{ dbt.dateadd('day', -1, 'current_period.period_start') }} as date)
)

select *
from compared
where
    (change_value is null) <> (expected_change is null)
    or abs(change_value - expected_change) > 1e-9
{% endtest %}
