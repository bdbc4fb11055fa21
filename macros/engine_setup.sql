{#- What each engine needs around the models: setup before they run, statistics after each. -#}

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
