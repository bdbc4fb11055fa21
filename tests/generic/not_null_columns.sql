{#-
    Fails on every row in which one of `columns` is null, and names those columns (null_columns):
    one scan for all of a model's required columns, not one test and one scan per column.
-#}
{% test not_null_columns(model, columns) %}
select
    *,
    concat_ws(
        ', '
        {%- for column in columns %},
        case when {{ column }} is null then '{{ column }}' end
        {%- endfor %}
    ) as null_columns
from {{ model }}
where
    {%- for column in columns %}
        {% if not loop.first %}or {% endif %}{{ column }} is null
    {%- endfor %}
{% endtest %}
