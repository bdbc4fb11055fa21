{#-
    No row vanishes: the raw table's row count equals the staged plus the rejected row count.
    Returns one row with the three counts when they disagree.
-#}
{% test rows_reconcile(model, staged, rejected) %}
with

counts as (
    select
        (select count(*) from {{ model }}) as raw_rows,
        (select count(*) from {{ staged }}) as staged_rows,
        (select count(*) from {{ rejected }}) as rejected_rows
)

select *
from counts
where raw_rows <> staged_rows + rejected_rows
{% endtest %}
