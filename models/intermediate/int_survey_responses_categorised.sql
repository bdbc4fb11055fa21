with

responses as (
    select * from {{ ref('stg_survey_responses') }}
),

customers as (
    select * from {{ ref('stg_customers') }}
),

final as (
    select
        responses.response_id,
        responses.customer_id,
        customers.segment,
        customers.country,
        responses.responded_at,
        cast(responses.responded_at as date) as response_date,
        {% for grain in var('period_grains') %}
            cast({{ dbt.date_trunc(grain, 'responses.responded_at') }} as date) as {{ grain }}_start,
        {% endfor %}
        responses.score,
        {{ respondent_category('responses.score') }} as respondent_category,
        responses.channel,
        responses.has_comment,
        responses.checked_at
    from responses
    inner join customers
        on responses.customer_id = customers.customer_id
)

select * from final
