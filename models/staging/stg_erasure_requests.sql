with

raw_erasure_requests as (
    select * from {{ ref('raw_erasure_requests') }}
),

requests as (
    select
        {{ clean_id('customer_id') }} as customer_id,
        min({{ dbt.safe_cast(clean_text('requested_at'), dbt.type_timestamp()) }}) as requested_at
    from raw_erasure_requests
    where {{ clean_id('customer_id') }} is not null
    group by {{ clean_id('customer_id') }}
),

final as (
    select
        customer_id,
        requested_at,
        'ERASED-' || lpad(
            cast(row_number() over (order by requested_at nulls last, customer_id) as {{ dbt.type_string() }}), 6, '0'
        ) as erased_customer_id
    from requests
)

select * from final
