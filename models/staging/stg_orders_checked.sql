-- depends_on: {{ ref('raw_orders') }}
{%- set cleaned_columns = [
    'raw_order_id', 'raw_customer_id', 'raw_order_date', 'raw_status', 'raw_amount_eur',
    'raw_cost_eur', 'order_id', 'customer_id', 'order_date', 'status', 'amount_eur',
    'cost_eur', 'row_fingerprint', '_loaded_at',
] %}
{%- set kept_raw = {
    'raw_order_id': 'order_id', 'raw_customer_id': 'customer_id', 'raw_order_date': 'order_date',
    'raw_status': 'status', 'raw_amount_eur': 'amount_eur', 'raw_cost_eur': 'cost_eur',
} %}

with

{% if is_incremental() %}
    -- Incremental run: the raw rows loaded since the last run (pruned by _loaded_at), the raw
    -- rows of customers erased since (read in full only when there are some), and the stored
    -- rows of every key whose judgement these can change.
    raw_orders as (
        {{ raw_rows_to_judge(source('raw', 'raw_orders'), 'order_id') }}
    ),

    judged_keys as (
        {{ rejudged_keys('raw_orders', 'order_id') }}
    ),
{% else %}
    raw_orders as {{ not_materialized() }} (
        select * from {{ source('raw', 'raw_orders') }}
    ),
{% endif %}

-- The one cross-entity read in staging: a semi-join that tells whether the customer exists.
known_customers as (
    select customer_id from {{ ref('stg_customers') }}
),

-- The raw rows with their customer's erasure request (CTE raw_with_erasures; in a full build
-- after the CTE repeated_keys): macro with_erasures.
{{ with_erasures('raw_orders', 'customer_id', 'order_id') }},

cleaned as {{ not_materialized() }} (
    select
        order_id as raw_order_id,
        {{ erased_or('customer_id') }} as raw_customer_id,
        order_date as raw_order_date,
        status as raw_status,
        amount_eur as raw_amount_eur,
        cost_eur as raw_cost_eur,
        {{ clean_id('order_id') }} as order_id,
        {{ erased_or(clean_id('customer_id')) }} as customer_id,
        {{ dbt.safe_cast(clean_text('order_date'), 'date') }} as order_date,
        case
            when lower(trim(status)) in ('completed', 'cancelled', 'returned') then lower(trim(status))
        end as status,
        {{ dbt.safe_cast(clean_text('amount_eur'), 'decimal(18, 2)') }} as amount_eur,
        {{ dbt.safe_cast(clean_text('cost_eur'), 'decimal(18, 2)') }} as cost_eur,
        {{ dbt.hash(dbt.concat([
            "coalesce(upper(trim(order_id)), '')", "'|'",
            "coalesce(upper(trim(customer_id)), '')", "'|'",
            "coalesce(trim(order_date), '')", "'|'",
            "coalesce(lower(trim(status)), '')", "'|'",
            "coalesce(trim(amount_eur), '')", "'|'",
            "coalesce(trim(cost_eur), '')",
        ])) }} as row_fingerprint,
        -- Full build: whether the key comes more than once (with_erasures).
        {% if is_full_build() %}is_repeated,{% endif %}
        _loaded_at
    from raw_with_erasures
),

-- The rows judged (with, in an incremental run, the stored copies of their keys), numbered
-- per key, each with whether its customer exists: CTE copies (macro judged_copies).
{{ judged_copies('order_id', cleaned_columns, [
        'raw_order_id', 'raw_customer_id', 'raw_order_date', 'raw_status', 'raw_amount_eur', 'raw_cost_eur',
    ], kept_raw) }},

checked as (
    select
        {{ source_row_key('order_id') }} as source_row_key,
        *,
        nullif(concat_ws(
            '; ',
            {{ key_reasons('order_id') }},
            case when not has_known_customer then 'unknown customer_id' end,
            case when order_date is null then 'invalid order_date' end,
            case when order_date > current_date then 'order_date in the future' end,
            case when status is null then 'unknown status' end,
            case when amount_eur is null then 'invalid amount_eur' end,
            case when amount_eur < 0 then 'negative amount_eur' end,
            case when cost_eur is null then 'invalid cost_eur' end,
            case when cost_eur < 0 then 'negative cost_eur' end
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
