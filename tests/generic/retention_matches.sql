{#- The model's retention_rate equals the same row's value in `to` (both null, or equal). -#}
{% test retention_matches(model, to) %}
select
    this_mart.period_grain,
    this_mart.period_start,
    this_mart.segment,
    this_mart.retention_rate,
    other_mart.retention_rate as other_retention_rate
from {{ model }} as this_mart
left join {{ to }} as other_mart
    on this_mart.period_grain = other_mart.period_grain
    and this_mart.period_start = other_mart.period_start
    and this_mart.segment = other_mart.segment
where
    other_mart.segment is null
    or not coalesce(
        this_mart.retention_rate = other_mart.retention_rate
        or (this_mart.retention_rate is null and other_mart.retention_rate is null),
        false
    )
{% endtest %}
