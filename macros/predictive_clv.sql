{#-
    The per-customer purchase summary the BG/NBD and Gamma-Gamma models need, over a
    calibration window ending at calibration_end (a SQL date expression). purchases: a relation
    or CTE with customer_id, purchase_date (date) and amount (number). Several purchases of one
    customer on one day count as one purchase (their amounts summed), as in the literature.
    Per customer with a purchase up to calibration_end:
    - frequency x: repeat purchases (purchase days after the first);
    - recency t_x: time units from the first to the last purchase;
    - customer_age T: time units from the first purchase to calibration_end;
    - mean_repeat_value: mean amount of the repeat purchases (all purchases' amount but the
      first day's, over x); null when x = 0.
    time_unit: day, week (7 days) or month (365.25 / 12 days). pytests/test_predictive_clv.py
    runs this same macro on the CDNOW transactions.
-#}
{% macro purchase_summary(purchases, calibration_end, time_unit='week') %}
    {%- set unit_days = {'day': 1, 'week': 7, 'month': 30.4375}[time_unit] -%}
    select
        customer_id,
        min(purchase_date) as first_purchase_date,
        max(purchase_date) as last_purchase_date,
        count(*) - 1 as frequency,
        {{ as_double(dbt.datediff('min(purchase_date)', 'max(purchase_date)', 'day')) }} / {{ unit_days }} as recency,
        {{ as_double(dbt.datediff('min(purchase_date)', calibration_end, 'day')) }} / {{ unit_days }} as customer_age,
        case
            when count(*) > 1
                then {{ as_double('sum(amount) - ' ~ value_at_min('amount', 'purchase_date')) }} / (count(*) - 1)
        end as mean_repeat_value
    from (
        select
            customer_id,
            purchase_date,
            sum(amount) as amount
        from {{ purchases }}
        where purchase_date <= {{ calibration_end }}
        group by customer_id, purchase_date
    ) as purchase_days
    group by customer_id
{% endmacro %}

{#-
    In an aggregate: the value on the row where order_by is smallest (order_by unique within the
    group, as a customer's purchase days are). An aggregate, not a window: no row is held.
-#}
{% macro value_at_min(value, order_by) -%}
    {{ return(adapter.dispatch('value_at_min', 'nps_warehouse')(value, order_by)) }}
{%- endmacro %}

{% macro default__value_at_min(value, order_by) -%}
    arg_min({{ value }}, {{ order_by }})
{%- endmacro %}

{% macro spark__value_at_min(value, order_by) -%}
    min_by({{ value }}, {{ order_by }})
{%- endmacro %}

{% macro postgres__value_at_min(value, order_by) -%}
    (array_agg({{ value }} order by {{ order_by }}))[1]
{%- endmacro %}
