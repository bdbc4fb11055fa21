-- An erasure request without a customer id erases nobody: stg_erasure_requests ignores it, and
-- this test warns so that someone asks the sender which customer was meant. Rows returned =
-- requests without a customer id.
-- depends_on: {{ ref('stg_erasure_requests') }}
-- The Dagster code location shows this test as a check on stg_erasure_requests (orchestration.py).
{{ config(meta={'dagster': {'ref': {'name': 'stg_erasure_requests'}}}) }}
{{ config(severity='warn') }}

select *
from {{ source('raw', 'raw_erasure_requests') }}
where {{ clean_id('customer_id') }} is null
