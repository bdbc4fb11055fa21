{#- Cleaning and validation helpers shared by the staging models. -#}

{% macro clean_id(column) -%}
    nullif(upper(trim({{ column }})), '')
{%- endmacro %}

{% macro clean_text(column) -%}
    nullif(trim({{ column }}), '')
{%- endmacro %}

{% macro pseudonymise(column) -%}
    {{ return(adapter.dispatch('pseudonymise', 'nps_warehouse')(column)) }}
{%- endmacro %}

{% macro default__pseudonymise(column) -%}
    case
        when nullif(trim({{ column }}), '') is not null
            then sha256('{{ env_var("PII_SALT", "dev-salt-not-secret") }}' || lower(trim({{ column }})))
    end
{%- endmacro %}

{#- The same lowercase hex SHA-256 on Spark. -#}
{% macro spark__pseudonymise(column) -%}
    case
        when nullif(trim({{ column }}), '') is not null
            then sha2('{{ env_var("PII_SALT", "dev-salt-not-secret") }}' || lower(trim({{ column }})), 256)
    end
{%- endmacro %}

{#- The same lowercase hex SHA-256 on PostgreSQL, whose sha256 takes bytes. -#}
{% macro postgres__pseudonymise(column) -%}
    case
        when nullif(trim({{ column }}), '') is not null
            then encode(sha256(convert_to(
                '{{ env_var("PII_SALT", "dev-salt-not-secret") }}' || lower(trim({{ column }})), 'UTF8'
            )), 'hex')
    end
{%- endmacro %}

{#- A total order within a key (fingerprint, then the raw text): no row depends on how ties are read. -#}
{% macro row_copies(key, fingerprint, raw_columns) -%}
    row_number() over (
        partition by {{ key }}
        order by {{ fingerprint }}
        {%- for column in raw_columns %}, {{ column }} nulls first{% endfor %}
    ) as copy_number,
    min({{ fingerprint }}) over (partition by {{ key }})
    <> max({{ fingerprint }}) over (partition by {{ key }}) as has_conflicting_copies
{%- endmacro %}

{% macro key_reasons(key) -%}
    case when {{ key }} is null then 'missing {{ key }}' end,
    case
        when {{ key }} is not null and has_conflicting_copies
            then 'conflicting duplicate {{ key }}'
    end,
    case
        when {{ key }} is not null and not has_conflicting_copies and copy_number > 1
            then 'duplicate {{ key }} (identical row)'
    end
{%- endmacro %}

{#- Plain text, not a hash: as unique, and hashing 10M keys cost 1.7 s of a full build. -#}
{% macro source_row_key(key) -%}
    {{ dbt.concat([
        "coalesce(" ~ key ~ ", '')", "'#'", dbt.safe_cast('copy_number', dbt.type_string()),
    ]) }}
{%- endmacro %}

{#- A full build (a first run, --full-refresh, a table) or a unit test, which has no `this`. -#}
{% macro is_full_build() -%}
    {{ return(this is none or not is_incremental()) }}
{%- endmacro %}

{#-
    The CTE raw_with_erasures: the raw rows (CTE raw) with their customer's erasure request, if
    any (erased_key, erased_customer_id), one lookup per row, which is_erased and erased_or then
    read. In a full build, before it the CTE repeated_keys (the cleaned keys that come more than
    once, from the raw keys alone), and on each row whether its key is one of them
    (is_repeated): a column, not a subquery on the cleaned key, so that numbered_copies' filters
    on it reach the raw rows before they are cleaned (at 10M orders the rows of the few
    repeated keys were otherwise found by cleaning every row twice).
-#}
{% macro with_erasures(raw, customer_id, key) -%}
    {% if is_full_build() %}
        repeated_keys as (
            {%- set raw_keys = "(select " ~ clean_id(key) ~ " as " ~ key ~ " from " ~ raw ~ ") as raw_keys" %}
            {{ repeated_keys(raw_keys, key) }}
        ),
    {% endif %}

    raw_with_erasures as {{ not_materialized() }} (
        select
            {{ raw }}.*,
            erasures.erased_key,
            erasures.erased_customer_id
            {%- if is_full_build() %},
                repeated_keys.repeated_key is not null as is_repeated
            {%- endif %}
        from {{ raw }}
        left join (
            select
                customer_id as erased_key,
                erased_customer_id
            from {{ ref('stg_erasure_requests') }}
        ) as erasures
            on {{ clean_id(raw ~ '.' ~ customer_id) }} = erasures.erased_key
        {%- if is_full_build() %}
            left join repeated_keys
                on coalesce({{ clean_id(raw ~ '.' ~ key) }}, '') = repeated_keys.repeated_key
        {%- endif %}
    )
{%- endmacro %}

{% macro is_erased() -%}
    (erased_key is not null)
{%- endmacro %}

{% macro erased_or(fallback) -%}
    coalesce(erased_customer_id, {{ fallback }})
{%- endmacro %}

{#-
    Full build: the cleaned keys delivered more than once (a handful). Only their rows need the
    window of row_copies; numbering every row in one window held all of them at once (100M rows
    spilled tens of GB to disk).
-#}
{% macro repeated_keys(rows, key) -%}
    select coalesce({{ key }}, '') as repeated_key
    from {{ rows }}
    group by coalesce({{ key }}, '')
    having count(*) > 1
{%- endmacro %}

{#-
    The rows of a CTE with row_copies' columns: a key's only copy is copy 1 without conflict; the
    copies of repeated keys are numbered by row_copies. The same numbers as row_copies over every
    row. A full build reads the rows' is_repeated (with_erasures); an incremental run the keys of
    CTE repeated_keys.
-#}
{% macro numbered_copies(rows, key, fingerprint, raw_columns) -%}
    {%- if not is_full_build() -%}
        {%- set repeated = "coalesce(" ~ key ~ ", '') in (select repeated_keys.repeated_key from repeated_keys)" -%}
    {%- else -%}
        {%- set repeated = "is_repeated" -%}
    {%- endif -%}
    select
        {{ rows }}.*,
        1 as copy_number,
        false as has_conflicting_copies
    from {{ rows }}
    where not {{ repeated }}
    union all
    select
        {{ rows }}.*,
        {{ row_copies(key, fingerprint, raw_columns) }}
    from {{ rows }}
    where {{ repeated }}
{%- endmacro %}

{#-
    The CTEs from a staging model's cleaned rows to their numbered copies, each with whether its
    customer exists (CTE copies). Reads the model's CTEs cleaned, known_customers and the raw
    rows (raw); in an incremental run also judged_keys, and the stored rows of those keys come
    back from the model's own table (stored_columns: the columns of cleaned; kept_raw: see
    kept_raw_columns).
-#}
{% macro judged_copies(key, stored_columns, raw_columns, kept_raw) -%}
    {% if is_incremental() %}
        stored as (
            {{ stored_rows_to_judge(stored_columns, key, kept_raw) }}
        ),
    {% endif %}

    judged as {{ not_materialized() }} (
        select * from cleaned
        {% if is_incremental() %}
            union all
            select * from stored
        {% endif %}
    ),

    {% if is_incremental() %}
        -- The keys that come more than once among the few rows judged (a full build marks
        -- them on the raw rows: with_erasures).
        repeated_keys as (
            {{ repeated_keys('judged', key) }}
        ),
    {% endif %}

    numbered as (
        {{ numbered_copies('judged', key, 'row_fingerprint', raw_columns) }}
    ),

    copies as (
        select
            numbered.*,
            known_customers.customer_id is not null as has_known_customer
        from numbered
        left join known_customers
            on numbered.customer_id = known_customers.customer_id
    )
{%- endmacro %}

{#-
    The hint for a CTE that is read more than once and must not be stored because it holds every
    row of a large table (scanned again instead): in a full build, and with in_incremental_runs
    also in an incremental run (an incremental staging run's CTEs are small: stored once).
-#}
{% macro not_materialized(in_incremental_runs=false) -%}
    {{ return(adapter.dispatch('not_materialized', 'nps_warehouse')(in_incremental_runs)) }}
{%- endmacro %}

{% macro default__not_materialized(in_incremental_runs) -%}
    {%- if in_incremental_runs or is_full_build() %}not materialized{% endif -%}
{%- endmacro %}

{#- Spark knows no such hint (and inlines CTEs). -#}
{% macro spark__not_materialized(in_incremental_runs) -%}
{%- endmacro %}

{#-
    The columns of a checked model's rows (relation: the CTE that holds them), where each raw
    column of kept_raw ({raw column: clean column}) keeps its value only where it tells something
    the clean value does not: on a rejected row, or where the delivered text is not exactly the
    clean value's text (' o-1 ' for O-1). raw_value reads it back. At 10M orders the raw columns
    of the accepted rows, copies of the clean ones, took 3.4 of 5.6 s to compress and write.
-#}
{% macro kept_raw_columns(relation, columns, kept_raw) -%}
    {% for column in columns %}
        {% if column in kept_raw %}
            case
                when
                    {{ relation }}.reason is null
                    and {{ relation }}.{{ column }} = cast({{ relation }}.{{ kept_raw[column] }} as {{ dbt.type_string() }})
                    then null
                else {{ relation }}.{{ column }}
            end
        {% else %}
            {{ relation }}.{{ column }}
        {% endif %} as {{ column }}{% if not loop.last %},{% endif %}
    {% endfor %}
{%- endmacro %}

{#- A raw column that kept_raw_columns stored, as delivered. -#}
{% macro raw_value(raw, clean) -%}
    coalesce({{ raw }}, cast({{ clean }} as {{ dbt.type_string() }}))
{%- endmacro %}
