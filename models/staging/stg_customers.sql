with

checked as (
    select * from {{ ref('stg_customers_checked') }}
),

final as (
    select
        customer_id,
        company_name_hash,
        contact_email_hash,
        segment,
        country,
        signup_date
    from checked
    where reason is null
)

select * from final
