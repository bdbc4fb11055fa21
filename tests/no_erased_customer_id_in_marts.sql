-- GDPR erasure: no mart row keeps the id of a customer with an erasure request.
-- The Dagster code location shows this test as a check on customers (orchestration.py).
{{ config(meta={'dagster': {'ref': {'name': 'customers'}}}) }}
with

erased as (
    select customer_id from {{ ref('stg_erasure_requests') }}
),

mart_ids as (
    select
        'customers' as mart,
        customer_id
    from {{ ref('customers') }}
    union all
    select
        'survey_responses' as mart,
        customer_id
    from {{ ref('survey_responses') }}
)

select mart_ids.*
from mart_ids
inner join erased
    on mart_ids.customer_id = erased.customer_id
