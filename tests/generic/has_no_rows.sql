{#- Fails (or warns, with severity: warn) with every row of the model: for quarantine tables. -#}
{% test has_no_rows(model) %}
select * from {{ model }}
{% endtest %}
