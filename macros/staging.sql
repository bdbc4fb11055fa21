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

{% macro source_row_key(key) -%}
    {{ dbt.hash(dbt.concat([
        "coalesce(" ~ key ~ ", '')", "'#'", dbt.safe_cast('copy_number', dbt.type_string()),
    ])) }}
{%- endmacro %}

{% macro is_erased(customer_id) -%}
    ({{ customer_id }} in (select erasures.customer_id from {{ ref('stg_erasure_requests') }} as erasures))
{%- endmacro %}

{#- The lookup renames its key, so an unqualified customer_id passed in means the outer row's. -#}
{% macro erased_or(customer_id, fallback) -%}
    coalesce(
        (
            select erasures.erased_customer_id
            from (
                select
                    customer_id as erased_key,
                    erased_customer_id
                from {{ ref('stg_erasure_requests') }}
            ) as erasures
            where erasures.erased_key = {{ customer_id }}
        ),
        {{ fallback }}
    )
{%- endmacro %}
