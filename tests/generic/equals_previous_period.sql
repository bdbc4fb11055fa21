{#-
    A value measured on the day before period_start equals the previous period's value
    measured on its period_end (the same day), per grain and segment. Returns every mismatch.
-#}
{% test equals_previous_period(model, column, previous_column) %}
select
    current_period.period_grain,
    current_period.period_start,
    current_period.segment,
    current_period.{{ column }},
    previous_period.{{ previous_column }} as previous_{{ previous_column }}
from {{ model }} as current_period
inner join {{ model }} as previous_period
    on current_period.period_grain = previous_period.period_grain
    and current_period.segment = previous_period.segment
    and previous_period.period_end
    = cast({{ dbt.dateadd('day', -1, 'current_period.period_start') }} as date)
where current_period.{{ column }} <> previous_period.{{ previous_column }}
{% endtest %}
