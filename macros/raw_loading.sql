{#-
    `nps-warehouse load --engine spark`: append text-column Parquet files to the raw tables of
    the spark target (dbt seed's tables; every raw table is created with string columns and
    _loaded_at when missing), stamped with the load time. With replace, the tables the files feed are emptied first.
    tables: {table: [columns in order]}; ddl: the statements that create the raw tables
    (nps_warehouse.contract.raw_table_ddl); files: a list of {table, path}, as the loader passes
    them in --args.
-#}
{% macro load_raw_parquet(tables, ddl, files, replace=false) %}
    {% do run_query("create database if not exists raw") %}
    {% for statement in ddl %}
        {% do run_query(statement) %}
    {% endfor %}
    {% set emptied = [] %}
    {% for file in files %}
        {% set relation = "raw." ~ file.table %}
        {% if replace and file.table not in emptied %}
            {% do run_query("truncate table " ~ relation) %}
            {% do emptied.append(file.table) %}
            {{ log("emptied " ~ relation, info=True) }}
        {% endif %}
        {% do run_query(
            "insert into " ~ relation ~ " select " ~ (tables[file.table] | join(", "))
            ~ ", current_timestamp() as _loaded_at from parquet.`" ~ file.path ~ "`"
        ) %}
        {{ log("[" ~ loop.index ~ "/" ~ (files | length) ~ "] " ~ relation ~ " <- " ~ file.path, info=True) }}
    {% endfor %}
{% endmacro %}

{#-
    Seed post-hook: every raw table carries _loaded_at, when its rows entered the warehouse
    (UTC). The seeds are always reloaded from scratch (full_refresh in dbt_project.yml), so the
    column is added after each load, stamped with the load time; rows appended later by a
    loader get their own time. Source freshness (models/staging/raw_sources.yml) reads it.
-#}
{% macro stamp_loaded_at() %}
    {{ return(adapter.dispatch('stamp_loaded_at')()) }}
{% endmacro %}

{% macro default__stamp_loaded_at() %}
    alter table {{ this }} add column _loaded_at timestamp with time zone default current_timestamp
{% endmacro %}

{% macro spark__stamp_loaded_at() %}
    alter table {{ this }} add columns (_loaded_at timestamp default current_timestamp())
{% endmacro %}
