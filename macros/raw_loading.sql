{#-
    `nps-warehouse load --engine spark`: append text-column Parquet files to the raw tables of
    the spark target (dbt seed's tables; every raw table is created with string columns when
    missing). With replace, the tables the files feed are emptied first.
    tables: {table: [columns in order]}; files: a list of {table, path}, as the loader passes
    them in --args.
-#}
{% macro load_raw_parquet(tables, files, replace=false) %}
    {% do run_query("create database if not exists raw") %}
    {% for table, columns in tables.items() %}
        {% do run_query(
            "create table if not exists raw." ~ table ~ " ("
            ~ (columns | join(" string, ")) ~ " string) using parquet"
        ) %}
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
            ~ " from parquet.`" ~ file.path ~ "`"
        ) %}
        {{ log("[" ~ loop.index ~ "/" ~ (files | length) ~ "] " ~ relation ~ " <- " ~ file.path, info=True) }}
    {% endfor %}
{% endmacro %}
