{#-
    The period spine of a period mart: every grain in var('period_grains'); per grain and
    member of the breakdown `by` (segment, or country), consecutive periods with no gap or
    overlap (each starts the day after the previous one ends, and ends on the last day of its
    grain); every period carries every member (default var('segments')) plus 'All'. Returns
    one row per problem.
-#}
{% test period_spine_complete(model, by='segment', members=none) %}
{%- set members = var('segments') if members is none else members %}
with

rows_in_order as (
    select
        period_grain,
        period_start,
        period_end,
        {{ by }} as member,
        lead(period_start) over (
            partition by period_grain, {{ by }} order by period_start
        ) as next_period_start
    from {{ model }}
),

gaps as (
    select
        'gap or overlap after this period' as problem,
        period_grain,
        period_start,
        member
    from rows_in_order
    where next_period_start <> cast({{ dbt.dateadd('day', 1, 'period_end') }} as date)
),

wrong_ends as (
    {% for grain in var('period_grains') %}
        select
            'period_end is not the last day of the {{ grain }}' as problem,
            period_grain,
            period_start,
            {{ by }} as member
        from {{ model }}
        where
            period_grain = '{{ grain }}'
            and (
                period_start <> cast({{ dbt.date_trunc(grain, 'period_start') }} as date)
                or period_end <> {{ dbt.last_day('period_start', grain) }}
            )
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

member_counts as (
    select
        'period without every {{ by }} and All' as problem,
        period_grain,
        period_start,
        cast(count(distinct {{ by }}) as {{ dbt.type_string() }}) as member
    from {{ model }}
    group by period_grain, period_start
    having count(distinct {{ by }}) <> {{ members | length + 1 }}
),

grains as (
    select
        'a period grain is missing' as problem,
        cast(count(distinct period_grain) as {{ dbt.type_string() }}) as period_grain,
        cast(null as date) as period_start,
        cast(null as {{ dbt.type_string() }}) as member
    from {{ model }}
    having count(distinct period_grain) <> {{ var('period_grains') | length }}
)

select * from gaps
union all
select * from wrong_ends
union all
select * from member_counts
union all
select * from grains
{% endtest %}
