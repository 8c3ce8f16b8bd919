-- Redshift: the `raw` schema `tierflow warehouse load` merges into (and dbt's sources read).
-- Same tables and column names as sql/mysql/001_lending_schema.sql for every table the tier
-- policy marks `warehouse: true`, plus _loaded_at. Types: BIGINT UNSIGNED -> bigint (ids stay far
-- below 2^63), SMALLINT UNSIGNED -> integer, DECIMAL -> numeric, DATETIME(6) -> timestamp,
-- ENUM/VARCHAR/CHAR -> varchar (byte lengths x4 for free text: Redshift counts bytes, MySQL
-- counts utf8mb4 characters), JSON -> varchar(65535).
-- The loader creates raw_audit.<table> LIKE raw.<table> for each batch; only the schema is here.
-- Idempotent. Run as the warehouse owner:  psql "$REDSHIFT_URL" -f sql/redshift/001_raw_schema.sql

create schema if not exists raw;
create schema if not exists raw_audit;

create table if not exists raw.customers (
    id              bigint          not null,
    full_name       varchar(480)    not null,
    phone           varchar(10)     not null,
    email           varchar(640)    not null,
    pan             varchar(10)     not null,
    date_of_birth   date            not null,
    city            varchar(240)    not null,
    state           varchar(240)    not null,
    kyc_status      varchar(16)     not null,
    created_at      timestamp       not null,
    updated_at      timestamp       not null,
    _loaded_at      timestamp       not null,
    primary key (id)
)
diststyle key distkey (id)
compound sortkey (updated_at);

create table if not exists raw.loans (
    id                  bigint          not null,
    customer_id         bigint          not null,
    product             varchar(16)     not null,
    principal           numeric(14,2)   not null,
    interest_rate_pct   numeric(5,2)    not null,
    tenure_months       integer         not null,
    status              varchar(16)     not null,
    applied_at          timestamp       not null,
    approved_at         timestamp,
    disbursed_at        timestamp,
    closed_at           timestamp,
    created_at          timestamp       not null,
    updated_at          timestamp       not null,
    _loaded_at          timestamp       not null,
    primary key (id)
)
diststyle key distkey (id)
compound sortkey (created_at);

create table if not exists raw.emi_schedules (
    id              bigint          not null,
    loan_id         bigint          not null,
    installment_no  integer         not null,
    due_date        date            not null,
    due_amount      numeric(12,2)   not null,
    paid_amount     numeric(12,2)   not null,
    paid_at         timestamp,
    status          varchar(16)     not null,
    created_at      timestamp       not null,
    updated_at      timestamp       not null,
    _loaded_at      timestamp       not null,
    primary key (id)
)
diststyle key distkey (loan_id)
compound sortkey (due_date);

create table if not exists raw.loan_transactions (
    id              bigint          not null,
    loan_id         bigint          not null,
    customer_id     bigint          not null,
    txn_type        varchar(16)     not null,
    amount          numeric(14,2)   not null,
    currency        varchar(3)      not null,
    installment_no  integer,
    gateway         varchar(16)     not null,
    gateway_ref     varchar(40)     not null,
    status          varchar(16)     not null,
    failure_reason  varchar(64),
    metadata        varchar(65535),
    created_at      timestamp       not null,
    updated_at      timestamp       not null,
    _loaded_at      timestamp       not null,
    primary key (id)
)
diststyle key distkey (loan_id)
compound sortkey (created_at);

create table if not exists raw.user_device_apps (
    id              bigint          not null,
    customer_id     bigint          not null,
    package_name    varchar(128)    not null,
    app_name        varchar(512)    not null,
    category        varchar(16)     not null,
    installed_at    timestamp,
    created_at      timestamp       not null,
    _loaded_at      timestamp       not null,
    primary key (id)
)
diststyle key distkey (customer_id)
compound sortkey (created_at);

create table if not exists raw.communications (
    id              bigint          not null,
    customer_id     bigint          not null,
    campaign_code   varchar(48)     not null,
    channel         varchar(16)     not null,
    template_code   varchar(48)     not null,
    status          varchar(16)     not null,
    created_at      timestamp       not null,
    updated_at      timestamp       not null,
    _loaded_at      timestamp       not null,
    primary key (id)
)
diststyle key distkey (id)
compound sortkey (created_at);

create table if not exists raw.communication_events (
    id                  bigint          not null,
    communication_id    bigint          not null,
    event_type          varchar(16)     not null,
    metadata            varchar(65535),
    created_at          timestamp       not null,
    _loaded_at          timestamp       not null,
    primary key (id)
)
diststyle key distkey (communication_id)
compound sortkey (created_at);
