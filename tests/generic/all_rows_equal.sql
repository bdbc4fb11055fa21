{#-
    Two period marts of different breakdowns agree on their rollup: for every period, the 'All'
    row of `model` (breakdown column `by`) equals the 'All' row of `to` (breakdown `to_by`) on
    `columns` (nulls equal). Returns every period where they differ or either row is missing.
-#}
{% test all_rows_equal(model, to, columns, by='country', to_by='segment') %}
with

model_rollup as (
    select * from {{ model }} where {{ by }} = 'All'
),

other_rollup as (
    select * from {{ to }} where {{ to_by }} = 'All'
),

compared as (
    select
        coalesce(model_rollup.period_grain, other_rollup.period_grain) as period_grain,
        coalesce(model_rollup.period_start, other_rollup.period_start) as period_start,
        model_rollup.period_grain is null or other_rollup.period_grain is null as is_missing,
        {% for column in columns %}
            model_rollup.{{ column }} as model_{{ column }},
            other_rollup.{{ column }} as other_{{ column }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from model_rollup
    full outer join other_rollup
        on model_rollup.period_grain = other_rollup.period_grain
        and model_rollup.period_start = other_rollup.period_start
)

select *
from compared
where
    is_missing
    {% for column in columns %}
        or not coalesce(
            model_{{ column }} = other_{{ column }}
            or (model_{{ column }} is null and other_{{ column }} is null),
            false
        )
    {% endfor %}
{% endtest %}
