-- The collections mart must account for every rupee of successful repayments in staging, per day
-- and gateway: a mismatch means a lost or double-counted day (e.g. a broken incremental window).
with from_transactions as (
    select
        {{ tierflow.to_date('created_at') }} as collection_day,
        gateway,
        sum(amount) as amount_collected
    from {{ ref('stg_lms__loan_transactions') }}
    where txn_type in ('emi_payment', 'prepayment', 'penalty')
      and txn_status = 'success'
    group by 1, 2
)

select
    coalesce(t.collection_day, m.collection_day) as collection_day,
    coalesce(t.gateway, m.gateway) as gateway,
    t.amount_collected as expected,
    m.amount_collected as in_mart
from from_transactions as t
full outer join (select * from {{ ref('fct_daily_collections') }} where amount_collected > 0) as m
    on m.collection_day = t.collection_day
   and m.gateway = t.gateway
where coalesce(t.amount_collected, -1) <> coalesce(m.amount_collected, -1)
