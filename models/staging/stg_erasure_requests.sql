-- depends_on: {{ ref('raw_erasure_requests') }}

with

raw_erasure_requests as (
    select * from {{ source('raw', 'raw_erasure_requests') }}
),

requests as (
    select
        {{ clean_id('customer_id') }} as customer_id,
        min({{ utc_timestamp(clean_text('requested_at')) }}) as requested_at,
        min(_loaded_at) as first_loaded_at
    from raw_erasure_requests
    where {{ clean_id('customer_id') }} is not null
    group by {{ clean_id('customer_id') }}
),

-- Keys in the order requests arrived, so a request delivered later never renumbers earlier ones.
final as (
    select
        customer_id,
        requested_at,
        'ERASED-' || lpad(
            cast(
                row_number() over (order by first_loaded_at, requested_at nulls last, customer_id)
                as {{ dbt.type_string() }}
            ),
            6,
            '0'
        ) as erased_customer_id
    from requests
)

select * from final
