{#-
    Seeds on Spark (session method), overriding dbt-spark's macro of the same name: dbt-spark
    binds every CSV value as the text '<value>', so an empty CSV field arrives as the string
    'None' instead of null (and a quote inside a value breaks the statement). Here each value is
    written as an escaped Spark string literal, or null when the field is empty, and cast to the
    seed's column type as dbt-spark does.
-#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set column_types = model['config'].get('column_types', {}) -%}
    {%- for chunk in agate_table.rows | batch(get_batch_size()) %}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                (
                {%- for value in row -%}
                    {%- set name = agate_table.column_names[loop.index0] -%}
                    {%- set type = column_types.get(name, adapter.convert_type(agate_table, loop.index0)) -%}
                    cast({{ spark_literal(value) }} as {{ type }}){{ ", " if not loop.last }}
                {%- endfor -%}
                ){{ "," if not loop.last }}
            {% endfor %}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
    {%- endfor %}
    {{ return('-- ' ~ (agate_table.rows | length) ~ ' rows loaded') }}
{% endmacro %}

{#- A Python value as a Spark SQL literal: null, or a string with backslash and quote escaped. -#}
{% macro spark_literal(value) -%}
    {%- if value is none -%}
        null
    {%- else -%}
        '{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}'
    {%- endif -%}
{%- endmacro %}
