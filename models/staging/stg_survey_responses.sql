with

checked as (
    select * from {{ ref('stg_survey_responses_checked') }}
),

final as (
    select
        response_id,
        customer_id,
        responded_at,
        cast(score_number as {{ dbt.type_int() }}) as score,
        channel,
        has_comment,
        checked_at
    from checked
    where reason is null
)

select * from final
