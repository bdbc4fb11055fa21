with

aggregated as (
    select * from {{ ref('int_country_periods_aggregated') }}
),

{{ nps_by_period('country') }}

select * from final
