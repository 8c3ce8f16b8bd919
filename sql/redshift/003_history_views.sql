-- Long-history views that span the warehouse and the archive: `raw` holds what has been loaded
-- since the warehouse started (the loader upserts and never deletes), `archive` (Spectrum) holds
-- what the archive moved out of MySQL, some of which `raw` also has. Each view takes every `raw` row
-- and the archive rows `raw` does not have, so nothing is counted twice.
-- Late-binding (WITH NO SCHEMA BINDING) because Redshift requires it for views over external tables.
-- The views do not expose the archive's dt partitions; for scans over years of one table, query
-- archive.<table> with a dt predicate (e.g. `where dt between '2023-01' and '2023-12'`) so Spectrum
-- reads only those files.
-- customers is left out on purpose: its archive copy has PII hashed, its raw copy does not.
-- Needs 002_spectrum_archive.sql first:  psql "$REDSHIFT_URL" -f sql/redshift/003_history_views.sql

create or replace view history.loans as
select id, customer_id, product, principal, interest_rate_pct, tenure_months, status, applied_at, approved_at, disbursed_at, closed_at, created_at, updated_at,
       'warehouse' as tier
from raw.loans
union all
select a.id, a.customer_id, a.product, a.principal, a.interest_rate_pct, a.tenure_months, a.status, a.applied_at, a.approved_at, a.disbursed_at, a.closed_at, a.created_at, a.updated_at,
       'archive' as tier
from archive.loans as a
where not exists (select 1 from raw.loans as r where r.id = a.id)
with no schema binding;

create or replace view history.emi_schedules as
select id, loan_id, installment_no, due_date, due_amount, paid_amount, paid_at, status, created_at, updated_at,
       'warehouse' as tier
from raw.emi_schedules
union all
select a.id, a.loan_id, a.installment_no, a.due_date, a.due_amount, a.paid_amount, a.paid_at, a.status, a.created_at, a.updated_at,
       'archive' as tier
from archive.emi_schedules as a
where not exists (select 1 from raw.emi_schedules as r where r.id = a.id)
with no schema binding;

create or replace view history.loan_transactions as
select id, loan_id, customer_id, txn_type, amount, currency, installment_no, gateway, gateway_ref, status, failure_reason, created_at, updated_at,
       'warehouse' as tier
from raw.loan_transactions
union all
select a.id, a.loan_id, a.customer_id, a.txn_type, a.amount, a.currency, a.installment_no, a.gateway, a.gateway_ref, a.status, a.failure_reason, a.created_at, a.updated_at,
       'archive' as tier
from archive.loan_transactions as a
where not exists (select 1 from raw.loan_transactions as r where r.id = a.id)
with no schema binding;

create or replace view history.communications as
select id, customer_id, campaign_code, channel, template_code, status, created_at, updated_at,
       'warehouse' as tier
from raw.communications
union all
select a.id, a.customer_id, a.campaign_code, a.channel, a.template_code, a.status, a.created_at, a.updated_at,
       'archive' as tier
from archive.communications as a
where not exists (select 1 from raw.communications as r where r.id = a.id)
with no schema binding;

create or replace view history.communication_events as
select id, communication_id, event_type, created_at,
       'warehouse' as tier
from raw.communication_events
union all
select a.id, a.communication_id, a.event_type, a.created_at,
       'archive' as tier
from archive.communication_events as a
where not exists (select 1 from raw.communication_events as r where r.id = a.id)
with no schema binding;

create or replace view history.user_device_apps as
select id, customer_id, package_name, app_name, category, installed_at, created_at,
       'warehouse' as tier
from raw.user_device_apps
union all
select a.id, a.customer_id, a.package_name, a.app_name, a.category, a.installed_at, a.created_at,
       'archive' as tier
from archive.user_device_apps as a
where not exists (select 1 from raw.user_device_apps as r where r.id = a.id)
with no schema binding;

-- Needs 000_access.sql first too: tierflow_analysts read these views through its grants.
grant select on all tables in schema history to group tierflow_analysts;
