{#-
    dbt-duckdb renders dbt.safe_cast as a plain cast, which fails the whole query on one bad
    value ('ten' as a score). Staging relies on a cast that yields null instead, so that the row
    is quarantined with a reason: DuckDB's try_cast.
-#}
{% macro duckdb__safe_cast(field, type) -%}
    try_cast({{ field }} as {{ type }})
{%- endmacro %}
