with

responses as (
    select * from {{ ref('int_survey_responses_categorised') }}
),

final as (
    select
        response_id,
        customer_id,
        segment,
        country,
        responded_at,
        response_date,
        {% for grain in var('period_grains') %}
            {{ grain }}_start,
        {% endfor %}
        cast(score as {{ dbt.type_int() }}) as score,
        respondent_category,
        channel,
        has_comment
    from responses
)

select * from final
