-- A loan past 90 days is also past 60 and past 30, so PAR30 >= PAR60 >= PAR90 and every ratio is a
-- share (0..1). Anything else is a bucketing bug.
select *
from {{ ref('fct_portfolio_at_risk_daily') }}
where par30_ratio < par60_ratio
   or par60_ratio < par90_ratio
   or par30_ratio > 1
   or par90_ratio < 0
   or npa_ratio <> par90_ratio
