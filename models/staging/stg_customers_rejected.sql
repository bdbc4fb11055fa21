with

checked as (
    select * from {{ ref('stg_customers_checked') }}
),

final as (
    select
        source_row_key,
        raw_customer_id as customer_id,
        company_name_hash,
        contact_email_hash,
        raw_segment as segment,
        raw_country as country,
        raw_signup_date as signup_date,
        reason
    from checked
    where reason is not null
)

select * from final
