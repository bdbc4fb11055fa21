with

segment_periods as (
    select * from {{ ref('int_segment_periods_aggregated') }}
),

final as (
    select
        period_grain,
        period_start,
        period_end,
        segment,
        cast(responses as {{ dbt.type_bigint() }}) as responses,
        cast(promoters as {{ dbt.type_bigint() }}) as promoters,
        cast(passives as {{ dbt.type_bigint() }}) as passives,
        cast(detractors as {{ dbt.type_bigint() }}) as detractors,
        cast(respondents as {{ dbt.type_bigint() }}) as respondents,
        cast({{ share_pct('promoters', 'responses') }} as {{ type_double() }}) as pct_promoters,
        cast({{ share_pct('passives', 'responses') }} as {{ type_double() }}) as pct_passives,
        cast({{ share_pct('detractors', 'responses') }} as {{ type_double() }}) as pct_detractors,
        cast({{ nps('promoters', 'detractors', 'responses') }} as {{ type_double() }}) as nps,
        cast({{ nps_margin_of_error('promoters', 'detractors', 'responses') }} as {{ type_double() }})
            as nps_margin_of_error,
        cast({{ avg_score('score_total', 'responses') }} as {{ type_double() }}) as avg_score,
        cast({{ share_pct('respondents_active_at_end', 'customers_end') }} as {{ type_double() }})
            as survey_coverage
    from segment_periods
)

select * from final
