{#-
    For customer-disjoint counts: the 'All' row of each period equals the sum of the member
    rows of the breakdown `by` (segment, or country), per value of the `within` columns.
    Returns every period and column where they differ (or where either side is missing);
    nulls on both sides agree.
-#}
{% test rollup_equals_segment_sum(model, columns, by='segment', within=[]) %}
with

segment_sums as (
    select
        period_grain,
        period_start,
        {% for column in within %}{{ column }},{% endfor %}
        {% for column in columns %}
            sum({{ column }}) as {{ column }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from {{ model }}
    where {{ by }} <> 'All'
    group by period_grain, period_start{% for column in within %}, {{ column }}{% endfor %}
),

rollup as (
    select *
    from {{ model }}
    where {{ by }} = 'All'
),

compared as (
    select
        coalesce(rollup.period_grain, segment_sums.period_grain) as period_grain,
        coalesce(rollup.period_start, segment_sums.period_start) as period_start,
        {% for column in within %}
            coalesce(rollup.{{ column }}, segment_sums.{{ column }}) as {{ column }},
        {% endfor %}
        {% for column in columns %}
            rollup.{{ column }} as all_{{ column }},
            segment_sums.{{ column }} as sum_{{ column }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from rollup
    full outer join segment_sums
        on rollup.period_grain = segment_sums.period_grain
        and rollup.period_start = segment_sums.period_start
        {% for column in within %}
            and rollup.{{ column }} = segment_sums.{{ column }}
        {% endfor %}
)

select *
from compared
where
    {% for column in columns %}
        not coalesce(
            all_{{ column }} = sum_{{ column }} or (all_{{ column }} is null and sum_{{ column }} is null),
            false
        ){% if not loop.last %} or{% endif %}
    {% endfor %}
{% endtest %}
