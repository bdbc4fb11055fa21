{#-
    Fails on every row in which a column lies outside its inclusive bounds, and names those
    columns (out_of_range_columns); nulls pass. One scan for all of a model's ranges, not one
    test and one scan per column.
-#}
{% test accepted_ranges(model, ranges) %}
{%- set conditions = {} -%}
{%- for column, bounds in ranges.items() -%}
    {%- set parts = [] -%}
    {%- if bounds.get('min_value') is not none %}{% do parts.append(column ~ ' < ' ~ bounds['min_value']) %}{% endif -%}
    {%- if bounds.get('max_value') is not none %}{% do parts.append(column ~ ' > ' ~ bounds['max_value']) %}{% endif -%}
    {%- do conditions.update({column: '(' ~ parts | join(' or ') ~ ')'}) -%}
{%- endfor %}
select
    *,
    concat_ws(
        ', '
        {%- for column, condition in conditions.items() %},
        case when {{ condition }} then '{{ column }}' end
        {%- endfor %}
    ) as out_of_range_columns
from {{ model }}
where
    {%- for condition in conditions.values() %}
        {% if not loop.first %}or {% endif %}{{ condition }}
    {%- endfor %}
{% endtest %}
