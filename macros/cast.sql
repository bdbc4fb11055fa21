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
    A delivered timestamp as UTC (timestamp without time zone), or null when it is not one:
    ISO text with an offset ('2026-07-01T10:00:00+02:00', '...Z') is converted to UTC, text
    without one is taken as UTC already (the profiles pin the session time zone to UTC).
-#}
{% macro utc_timestamp(field) -%}
    {{ return(adapter.dispatch('utc_timestamp', 'nps_warehouse')(field)) }}
{%- endmacro %}

{% macro default__utc_timestamp(field) -%}
    cast(timezone('UTC', try_cast({{ field }} as timestamp with time zone)) as timestamp)
{%- endmacro %}

{#- Spark parses the offset into the instant and shows it in the session time zone, UTC. -#}
{% macro spark__utc_timestamp(field) -%}
    try_cast({{ field }} as timestamp)
{%- endmacro %}

{% macro postgres__utc_timestamp(field) -%}
    case
        when cast({{ field }} as text) ~ '{{ safe_cast_shape('timestamp') | replace('$', '') }}([+-][0-9]{2}(:?[0-9]{2})?|Z)$'
            then public.nps_try_cast(cast({{ field }} as text), cast(null as timestamptz)) at time zone 'UTC'
        else {{ dbt.safe_cast(field, 'timestamp') }}
    end
{%- endmacro %}

{#-
    A sum of money (decimal(18, 2) amounts). DuckDB sums decimals into 128-bit ones, whose
    arithmetic and storage are slower: its sum is cast back to decimal(18, 2) (the period grid
    built about 7% faster at 10M orders; a customer's period is far below 10^16 EUR). Other
    engines keep their own sum type.
-#}
{% macro sum_money(expression) -%}
    {{ return(adapter.dispatch('sum_money', 'nps_warehouse')(expression)) }}
{%- endmacro %}

{% macro default__sum_money(expression) -%}
    sum({{ expression }})
{%- endmacro %}

{% macro duckdb__sum_money(expression) -%}
    cast(sum({{ expression }}) as decimal(18, 2))
{%- endmacro %}
