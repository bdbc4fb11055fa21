-- depends_on: {{ ref('raw_customers') }}

with

raw_customers as {{ not_materialized() }} (
    select * from {{ source('raw', 'raw_customers') }}
),

-- The raw rows with their customer's erasure request (CTE raw_with_erasures; in a full build
-- after the CTE repeated_keys): macro with_erasures.
{{ with_erasures('raw_customers', 'customer_id', 'customer_id') }},

cleaned as {{ not_materialized() }} (
    select
        {{ erased_or('customer_id') }} as raw_customer_id,
        segment as raw_segment,
        country as raw_country,
        signup_date as raw_signup_date,
        {{ erased_or(clean_id('customer_id')) }} as customer_id,
        case when not {{ is_erased() }} then {{ pseudonymise('company_name') }} end
            as company_name_hash,
        case when not {{ is_erased() }} then {{ pseudonymise('contact_email') }} end
            as contact_email_hash,
        case lower(trim(segment))
            when 'enterprise' then 'Enterprise'
            when 'mid-market' then 'Mid-Market'
            when 'smb' then 'SMB'
        end as segment,
        case
            when upper(trim(country)) in ('DE', 'AT', 'CH') then upper(trim(country))
        end as country,
        {{ dbt.safe_cast(clean_text('signup_date'), 'date') }} as signup_date,
        {{ dbt.hash(dbt.concat([
            "coalesce(upper(trim(customer_id)), '')", "'|'",
            "case when " ~ is_erased() ~ " then '' else coalesce(lower(trim(company_name)), '') end",
            "'|'",
            "case when " ~ is_erased() ~ " then '' else coalesce(lower(trim(contact_email)), '') end",
            "'|'",
            "coalesce(lower(trim(segment)), '')", "'|'",
            "coalesce(upper(trim(country)), '')", "'|'",
            "coalesce(trim(signup_date), '')",
        ])) }} as row_fingerprint,
        -- Whether the key comes more than once (with_erasures).
        is_repeated
    from raw_with_erasures
),

copies as (
    {{ numbered_copies('cleaned', 'customer_id', 'row_fingerprint', [
        'raw_customer_id', 'raw_segment', 'raw_country', 'raw_signup_date',
    ]) }}
),

checked as (
    select
        {{ source_row_key('customer_id') }} as source_row_key,
        *,
        nullif(concat_ws(
            '; ',
            {{ key_reasons('customer_id') }},
            case when segment is null then 'unknown segment' end,
            case when country is null then 'unknown country' end,
            case when signup_date is null then 'invalid signup_date' end,
            case when signup_date > current_date then 'signup_date in the future' end
        ), '') as reason
    from copies
)

select
    source_row_key,
    raw_customer_id,
    raw_segment,
    raw_country,
    raw_signup_date,
    customer_id,
    company_name_hash,
    contact_email_hash,
    segment,
    country,
    signup_date,
    row_fingerprint,
    copy_number,
    has_conflicting_copies,
    reason
from checked
