with

checked as (
    select * from {{ ref('stg_survey_responses_checked') }}
),

final as (
    select
        source_row_key,
        raw_response_id as response_id,
        raw_customer_id as customer_id,
        raw_responded_at as responded_at,
        raw_score as score,
        raw_channel as channel,
        has_comment,
        reason
    from checked
    where reason is not null
)

select * from final
