with

raw_rows as (
    select * from {{ ref('raw_survey_responses') }}
),

{% if is_incremental() %}
    -- Incremental run: judge again only the raw rows of keys that new rows can change.
    judged_keys as (
        {{ rejudged_keys(
            clean_id('response_id'),
            "cast(" ~ dbt.safe_cast(clean_text('responded_at'), dbt.type_timestamp()) ~ " as date)",
            'response_id',
            'cast(responded_at as date)',
        ) }}
    ),
{% endif %}

raw_survey_responses as (
    select * from raw_rows
    {% if is_incremental() %}
        where coalesce({{ clean_id('response_id') }}, '') in (select judged_keys.judged_key from judged_keys)
    {% endif %}
),

-- The one cross-entity read in staging: a semi-join that tells whether the customer exists.
known_customers as (
    select customer_id from {{ ref('stg_customers') }}
),

cleaned as (
    select
        response_id as raw_response_id,
        {{ erased_or(clean_id('customer_id'), 'customer_id') }} as raw_customer_id,
        responded_at as raw_responded_at,
        score as raw_score,
        channel as raw_channel,
        {{ clean_id('response_id') }} as response_id,
        {{ erased_or(clean_id('customer_id'), clean_id('customer_id')) }} as customer_id,
        {{ dbt.safe_cast(clean_text('responded_at'), dbt.type_timestamp()) }} as responded_at,
        {{ clean_text('score') }} as score_text,
        {{ dbt.safe_cast(clean_text('score'), 'decimal(18, 6)') }} as score_number,
        coalesce(
            nullif(replace(replace(lower(trim(channel)), ' ', '_'), '-', '_'), ''), 'unknown'
        ) as channel,
        {{ clean_text('comment') }} is not null as has_comment,
        {{ dbt.hash(dbt.concat([
            "coalesce(upper(trim(response_id)), '')", "'|'",
            "coalesce(upper(trim(customer_id)), '')", "'|'",
            "coalesce(trim(responded_at), '')", "'|'",
            "coalesce(trim(score), '')", "'|'",
            "coalesce(lower(trim(channel)), '')", "'|'",
            "coalesce(trim(comment), '')",
        ])) }} as row_fingerprint
    from raw_survey_responses
),

copies as (
    select
        cleaned.*,
        known_customers.customer_id is not null as has_known_customer,
        {{ row_copies('cleaned.response_id', 'cleaned.row_fingerprint', [
            'cleaned.raw_response_id', 'cleaned.raw_customer_id', 'cleaned.raw_responded_at',
            'cleaned.raw_score', 'cleaned.raw_channel', 'cleaned.has_comment',
        ]) }}
    from cleaned
    left join known_customers
        on cleaned.customer_id = known_customers.customer_id
),

checked as (
    select
        {{ source_row_key('response_id') }} as source_row_key,
        *,
        nullif(concat_ws(
            '; ',
            {{ key_reasons('response_id') }},
            case when not has_known_customer then 'unknown customer_id' end,
            case when responded_at is null then 'invalid responded_at' end,
            case when cast(responded_at as date) > current_date then 'responded_at in the future' end,
            case when score_text is null then 'missing score' end,
            case when score_text is not null and score_number is null then 'score is not a number' end,
            case when score_number <> floor(score_number) then 'score is not a whole number' end,
            case when score_number < 0 or score_number > 10 then 'score outside 0..10' end
        ), '') as reason
    from copies
)

select
    checked.*,
    {{ judged_at('checked', 'judged_before') }} as checked_at
from checked
{% if is_incremental() %}
    left join {{ this }} as judged_before
        on checked.source_row_key = judged_before.source_row_key
{% endif %}
