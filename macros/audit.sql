{#-
    What a data test reads. An incremental refresh sets NPS_AUDIT_SINCE (the time its dbt build
    started, UTC): the row-level tests of the large incremental tables listed in
    var('audited_stamps') then check only the rows written from then on, whose stamp column
    (checked_at, computed_at) is at least that time; a literal, so DuckDB prunes row groups by
    min/max. Without it (a full refresh, `dbt build`) every test reads its whole table. Any
    `where` config of the test applies as well. The bound comes from the environment, not a dbt
    var, because a changed var makes dbt parse the whole project again.
-#}
{% macro default__get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- set since = env_var('NPS_AUDIT_SINCE', '') -%}
    {%- set stamp = var('audited_stamps').get(relation.identifier) if since else none -%}
    {%- if stamp -%}
        {%- set scope = stamp ~ " >= cast('" ~ since ~ "' as " ~ dbt.type_timestamp() ~ ")" -%}
        {%- set where = scope ~ (" and (" ~ where ~ ")" if where else "") -%}
    {%- endif -%}
    {%- if where -%}
        (select * from {{ relation }} where {{ where }}) dbt_subquery
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}
