with

respondent_periods as (
    select * from {{ ref('int_respondent_periods_valued') }}
),

periods as (
    select * from {{ ref('int_periods_enumerated') }}
),

orders as (
    select * from {{ ref('stg_orders') }}
),

responses as (
    select * from {{ ref('int_survey_responses_categorised') }}
),

latest as (
    select {{ latest_data_date('orders', 'responses') }} as latest_data_date
),

-- Every account counts in its own segment and in 'All'.
reporting_segments as (
    {{ reporting_members(var('segments')) }}
),

all_segments as (
    select distinct reporting_member as segment from reporting_segments
),

categories as (
    select 'promoter' as respondent_category
    union all
    select 'passive' as respondent_category
    union all
    select 'detractor' as respondent_category
),

totals as (
    select
        respondent_periods.period_grain,
        respondent_periods.period_start,
        reporting_segments.reporting_member as segment,
        respondent_periods.last_answer_category as respondent_category,
        count(*) as accounts,  -- noqa: RF04
        sum(case when respondent_periods.is_active_12m_later then 1 else 0 end) as retained_accounts,
        sum(respondent_periods.revenue_prior_12m_eur) as revenue_prior_12m_eur,
        sum(respondent_periods.revenue_next_12m_eur) as revenue_next_12m_eur
    from respondent_periods
    inner join reporting_segments
        on respondent_periods.segment = reporting_segments.member
    group by
        respondent_periods.period_grain,
        respondent_periods.period_start,
        reporting_segments.reporting_member,
        respondent_periods.last_answer_category
),

spine as (
    select
        periods.period_grain,
        periods.period_start,
        periods.period_end,
        all_segments.segment,
        categories.respondent_category,
        {{ is_horizon_observed('periods.period_end', 'latest.latest_data_date') }} as is_horizon_observed
    from periods
    cross join latest
    cross join all_segments
    cross join categories
),

final as (
    select
        spine.period_grain,
        spine.period_start,
        spine.period_end,
        spine.segment,
        spine.respondent_category,
        cast(coalesce(totals.accounts, 0) as {{ dbt.type_bigint() }}) as accounts,  -- noqa: RF04
        cast(
            case when spine.is_horizon_observed then coalesce(totals.retained_accounts, 0) end
            as {{ dbt.type_bigint() }}
        ) as retained_accounts,
        cast(case
            when spine.is_horizon_observed
                then {{ retention_rate_12m('totals.retained_accounts', 'totals.accounts') }}
        end as {{ type_double() }}) as retention_rate_12m,
        cast(coalesce(totals.revenue_prior_12m_eur, 0) as decimal(18, 2)) as revenue_prior_12m_eur,
        cast(
            case when spine.is_horizon_observed then coalesce(totals.revenue_next_12m_eur, 0) end
            as decimal(18, 2)
        ) as revenue_next_12m_eur
    from spine
    left join totals
        on spine.period_grain = totals.period_grain
        and spine.period_start = totals.period_start
        and spine.segment = totals.segment
        and spine.respondent_category = totals.respondent_category
)

select * from final
