with

aggregated as (
    select * from {{ ref('int_segment_periods_aggregated') }}
),

{{ nps_by_period('segment') }}

select * from final
