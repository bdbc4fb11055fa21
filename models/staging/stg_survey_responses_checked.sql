-- depends_on: {{ ref('raw_survey_responses') }}
{%- set cleaned_columns = [
    'raw_response_id', 'raw_customer_id', 'raw_responded_at', 'raw_score', 'raw_channel',
    'response_id', 'customer_id', 'responded_at', 'score_text', 'score_number', 'channel',
    'has_comment', 'row_fingerprint', '_loaded_at',
] %}
{#- raw_responded_at is kept as delivered: its text is rarely the timestamp's. -#}
{%- set kept_raw = {
    'raw_response_id': 'response_id', 'raw_customer_id': 'customer_id', 'raw_score': 'score_text',
    'raw_channel': 'channel',
} %}

with

{% if is_incremental() %}
    -- Incremental run: the raw rows loaded since the last run (pruned by _loaded_at), the raw
    -- rows of customers erased since (read in full only when there are some), and the stored
    -- rows of every key whose judgement these can change.
    raw_survey_responses as (
        {{ raw_rows_to_judge(source('raw', 'raw_survey_responses'), 'response_id') }}
    ),

    judged_keys as (
        {{ rejudged_keys('raw_survey_responses', 'response_id') }}
    ),
{% else %}
    raw_survey_responses as {{ not_materialized() }} (
        select * from {{ source('raw', 'raw_survey_responses') }}
    ),
{% endif %}

-- The one cross-entity read in staging: a semi-join that tells whether the customer exists.
known_customers as (
    select customer_id from {{ ref('stg_customers') }}
),

-- The raw rows with their customer's erasure request (CTE raw_with_erasures; in a full build
-- after the CTE repeated_keys): macro with_erasures.
{{ with_erasures('raw_survey_responses', 'customer_id', 'response_id') }},

cleaned as {{ not_materialized() }} (
    select
        response_id as raw_response_id,
        {{ erased_or('customer_id') }} as raw_customer_id,
        responded_at as raw_responded_at,
        score as raw_score,
        channel as raw_channel,
        {{ clean_id('response_id') }} as response_id,
        {{ erased_or(clean_id('customer_id')) }} as customer_id,
        {{ utc_timestamp(clean_text('responded_at')) }} as responded_at,
        {{ clean_text('score') }} as score_text,
        {{ dbt.safe_cast(clean_text('score'), 'decimal(18, 6)') }} as score_number,
        coalesce(
            nullif(replace(replace(lower(trim(channel)), ' ', '_'), '-', '_'), ''), 'unknown'
        ) as channel,
        -- An erased customer's comment is gone, whether or not the raw file was scrubbed yet.
        {{ clean_text('comment') }} is not null and not {{ is_erased() }} as has_comment,
        {{ dbt.hash(dbt.concat([
            "coalesce(upper(trim(response_id)), '')", "'|'",
            "coalesce(upper(trim(customer_id)), '')", "'|'",
            "coalesce(trim(responded_at), '')", "'|'",
            "coalesce(trim(score), '')", "'|'",
            "coalesce(lower(trim(channel)), '')", "'|'",
            "case when " ~ is_erased() ~ " then '' else coalesce(trim(comment), '') end",
        ])) }} as row_fingerprint,
        -- Full build: whether the key comes more than once (with_erasures).
        {% if is_full_build() %}is_repeated,{% endif %}
        _loaded_at
    from raw_with_erasures
),

-- The rows judged (with, in an incremental run, the stored copies of their keys), numbered
-- per key, each with whether its customer exists: CTE copies (macro judged_copies).
{{ judged_copies('response_id', cleaned_columns, [
        'raw_response_id', 'raw_customer_id', 'raw_responded_at', 'raw_score', 'raw_channel', 'has_comment',
    ], kept_raw) }},

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
    {{ kept_raw_columns('checked', ['source_row_key'] + cleaned_columns + [
        'copy_number', 'has_conflicting_copies', 'has_known_customer', 'reason',
    ], kept_raw) }},
    {{ judged_at('checked', 'judged_before') }} as checked_at
from checked
{% if is_incremental() %}
    left join {{ this }} as judged_before
        on checked.source_row_key = judged_before.source_row_key
{% endif %}
