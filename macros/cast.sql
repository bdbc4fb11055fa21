{#-
    Staging relies on a cast that yields null for a bad value ('ten' as a score, '31.02.2024' as a
    date), so that the row is quarantined with a reason instead of failing the whole query. The
    engines' plain casts fail, so each engine gets its own safe cast, side by side here. All of
    them accept the same inputs as DuckDB's try_cast does on this project's data: ISO dates and
    timestamps, plain decimal numbers.
-#}
{% macro duckdb__safe_cast(field, type) -%}
    try_cast({{ field }} as {{ type }})
{%- endmacro %}

{#- Spark (ANSI mode, the default of Spark 4) fails a plain cast too; its try_cast yields null. -#}
{% macro spark__safe_cast(field, type) -%}
    try_cast({{ field }} as {{ type }})
{%- endmacro %}

{#-
    PostgreSQL 15 has no try_cast. Values of the expected shape (ISO date or timestamp, plain
    number) are cast by nps_try_cast (created by engine_setup), which returns null where the
    cast fails (31 February, numeric overflow). The shape check keeps PostgreSQL from accepting
    what DuckDB rejects, such as '15.03.2024' or 'NaN'.
-#}
{% macro postgres__safe_cast(field, type) -%}
    {%- set shape = safe_cast_shape(type) -%}
    {%- if shape -%}
        case
            when cast({{ field }} as text) ~ '{{ shape }}'
                then cast(public.nps_try_cast(cast({{ field }} as text), cast(null as {{ type }})) as {{ type }})
        end
    {%- else -%}
        cast({{ field }} as {{ type }})
    {%- endif -%}
{%- endmacro %}

{#- The regular expression a value must match to be cast to type; none for text types. -#}
{% macro safe_cast_shape(type) -%}
    {%- set name = type | lower -%}
    {%- if name.startswith('date') -%}
        ^[0-9]{4}-[0-9]{2}-[0-9]{2}$
    {%- elif name.startswith('timestamp') -%}
        ^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?)?$
    {%- elif name.startswith(('decimal', 'numeric', 'int', 'bigint', 'double', 'float', 'real')) -%}
        ^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)$
    {%- endif -%}
{%- endmacro %}

{#-
    Run at the start of every dbt invocation (on-run-start): what an engine needs before the
    models run. PostgreSQL: nps_try_cast(value, sample), the text value cast to the sample's type
    by PL/pgSQL's assignment (the type's input function), null where that fails.
-#}
{% macro engine_setup() -%}
    {{ return(adapter.dispatch('engine_setup', 'nps_warehouse')()) }}
{%- endmacro %}

{% macro default__engine_setup() -%}
    select 1
{%- endmacro %}

{% macro postgres__engine_setup() -%}
    create or replace function public.nps_try_cast(value text, sample anyelement)
    returns anyelement language plpgsql immutable as $body$
    begin
        sample := value;
        return sample;
    exception when others then
        return null;
    end
    $body$
{%- endmacro %}

{#-
    Model post-hook: fresh planner statistics for the table just built. PostgreSQL has none for
    a table created moments ago until autovacuum gets to it, and then may plan a nested loop
    over hundreds of thousands of rows (the customers mart at 1M orders ran for minutes instead
    of seconds). DuckDB and Spark need nothing; views have no statistics.
-#}
{% macro refresh_statistics() -%}
    {{ return(adapter.dispatch('refresh_statistics', 'nps_warehouse')()) }}
{%- endmacro %}

{% macro default__refresh_statistics() -%}
{%- endmacro %}

{% macro postgres__refresh_statistics() -%}
    {%- if config.get('materialized') in ('table', 'incremental') -%}
        analyze {{ this }}
    {%- endif -%}
{%- endmacro %}
