-- Loan-management source schema of the lender (MySQL 8 / Aurora MySQL 3 / MariaDB 10.11).
-- Applied by `tierflow db init`; idempotent (CREATE TABLE IF NOT EXISTS).
-- Every table has a primary key, a time column with an index, and CHECK constraints on amounts.
-- updated_at moves on every UPDATE (ON UPDATE CURRENT_TIMESTAMP): the archive and the warehouse
-- load tell a changed row by it (the tier policy's change_column).
-- All PII here is fake: the platform never holds production PII outside production.

CREATE TABLE IF NOT EXISTS customers (
  id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  full_name      VARCHAR(120)    NOT NULL,
  phone          CHAR(10)        NOT NULL,
  email          VARCHAR(160)    NOT NULL,
  pan            CHAR(10)        NOT NULL,
  date_of_birth  DATE            NOT NULL,
  city           VARCHAR(60)     NOT NULL,
  state          VARCHAR(60)     NOT NULL,
  kyc_status     ENUM('pending','verified','rejected','expired') NOT NULL DEFAULT 'pending',
  created_at     DATETIME(6)     NOT NULL,
  updated_at     DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY uq_customers_pan (pan),
  KEY ix_customers_created_at (created_at),
  KEY ix_customers_updated_at (updated_at),
  CONSTRAINT ck_customers_phone CHECK (phone REGEXP '^[6-9][0-9]{9}$'),
  CONSTRAINT ck_customers_pan CHECK (pan REGEXP '^[A-Z]{5}[0-9]{4}[A-Z]$'),
  CONSTRAINT ck_customers_dob CHECK (date_of_birth BETWEEN '1930-01-01' AND '2015-12-31'),
  CONSTRAINT ck_customers_updated CHECK (updated_at >= created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS loans (
  id                 BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  customer_id        BIGINT UNSIGNED NOT NULL,
  product            ENUM('credit_line','personal_loan','bnpl') NOT NULL,
  principal          DECIMAL(14,2)   NOT NULL,
  interest_rate_pct  DECIMAL(5,2)    NOT NULL,
  tenure_months      SMALLINT UNSIGNED NOT NULL,
  status             ENUM('applied','approved','disbursed','closed','written_off','rejected') NOT NULL DEFAULT 'applied',
  applied_at         DATETIME(6)     NOT NULL,
  approved_at        DATETIME(6)     NULL,
  disbursed_at       DATETIME(6)     NULL,
  closed_at          DATETIME(6)     NULL,
  created_at         DATETIME(6)     NOT NULL,
  updated_at         DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  KEY ix_loans_customer (customer_id),
  KEY ix_loans_created_at (created_at),
  KEY ix_loans_updated_at (updated_at),
  CONSTRAINT fk_loans_customer FOREIGN KEY (customer_id) REFERENCES customers (id),
  CONSTRAINT ck_loans_principal CHECK (principal > 0),
  CONSTRAINT ck_loans_rate CHECK (interest_rate_pct >= 0 AND interest_rate_pct <= 60),
  CONSTRAINT ck_loans_tenure CHECK (tenure_months BETWEEN 1 AND 84),
  CONSTRAINT ck_loans_lifecycle CHECK (
    (approved_at IS NULL OR approved_at >= applied_at)
    AND (disbursed_at IS NULL OR (approved_at IS NOT NULL AND disbursed_at >= approved_at))
    AND (status NOT IN ('disbursed','closed','written_off') OR disbursed_at IS NOT NULL)
    AND (status NOT IN ('closed','written_off') OR closed_at IS NOT NULL))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS emi_schedules (
  id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  loan_id         BIGINT UNSIGNED NOT NULL,
  installment_no  SMALLINT UNSIGNED NOT NULL,
  due_date        DATE            NOT NULL,
  due_amount      DECIMAL(12,2)   NOT NULL,
  paid_amount     DECIMAL(12,2)   NOT NULL DEFAULT 0,
  paid_at         DATETIME(6)     NULL,
  status          ENUM('scheduled','paid','partially_paid','late','missed','waived') NOT NULL DEFAULT 'scheduled',
  created_at      DATETIME(6)     NOT NULL,
  updated_at      DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  UNIQUE KEY uq_emi_loan_installment (loan_id, installment_no),
  KEY ix_emi_due_date (due_date),
  KEY ix_emi_created_at (created_at),
  KEY ix_emi_updated_at (updated_at),
  CONSTRAINT fk_emi_loan FOREIGN KEY (loan_id) REFERENCES loans (id),
  CONSTRAINT ck_emi_installment CHECK (installment_no BETWEEN 1 AND 84),
  CONSTRAINT ck_emi_due_amount CHECK (due_amount > 0),
  CONSTRAINT ck_emi_paid_amount CHECK (paid_amount >= 0),
  CONSTRAINT ck_emi_paid CHECK (status NOT IN ('paid','partially_paid','late') OR paid_at IS NOT NULL)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS loan_transactions (
  id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  loan_id         BIGINT UNSIGNED NOT NULL,
  customer_id     BIGINT UNSIGNED NOT NULL,
  txn_type        ENUM('disbursal','emi_payment','prepayment','penalty','refund') NOT NULL,
  amount          DECIMAL(14,2)   NOT NULL,
  currency        CHAR(3)         NOT NULL DEFAULT 'INR',
  installment_no  SMALLINT UNSIGNED NULL,
  gateway         ENUM('razorpay','cashfree','payu','paytm','nach','upi_autopay','neft') NOT NULL,
  gateway_ref     VARCHAR(40)     NOT NULL,
  status          ENUM('initiated','success','failed','reversed') NOT NULL,
  failure_reason  VARCHAR(64)     NULL,
  metadata        JSON            NULL,
  created_at      DATETIME(6)     NOT NULL,
  updated_at      DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  KEY ix_txn_created_at (created_at),
  KEY ix_txn_updated_at (updated_at),
  KEY ix_txn_loan (loan_id),
  KEY ix_txn_customer_created (customer_id, created_at),
  CONSTRAINT fk_txn_loan FOREIGN KEY (loan_id) REFERENCES loans (id),
  CONSTRAINT fk_txn_customer FOREIGN KEY (customer_id) REFERENCES customers (id),
  CONSTRAINT ck_txn_amount CHECK (amount > 0),
  CONSTRAINT ck_txn_currency CHECK (currency = 'INR'),
  CONSTRAINT ck_txn_failure CHECK (status <> 'failed' OR failure_reason IS NOT NULL)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS user_device_apps (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  customer_id   BIGINT UNSIGNED NOT NULL,
  package_name  VARCHAR(128)    NOT NULL,
  app_name      VARCHAR(128)    NOT NULL,
  category      ENUM('finance','gaming','social','shopping','entertainment','productivity','other') NOT NULL,
  installed_at  DATETIME(6)     NULL,
  created_at    DATETIME(6)     NOT NULL,
  PRIMARY KEY (id),
  KEY ix_apps_customer (customer_id),
  KEY ix_apps_created_at (created_at),
  CONSTRAINT fk_apps_customer FOREIGN KEY (customer_id) REFERENCES customers (id),
  CONSTRAINT ck_apps_installed CHECK (installed_at IS NULL OR installed_at <= created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS user_device_sms (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  customer_id   BIGINT UNSIGNED NOT NULL,
  sender        VARCHAR(16)     NOT NULL,
  body          VARCHAR(640)    NOT NULL,
  is_bank_sms   TINYINT(1)      NOT NULL DEFAULT 0,
  sms_at        DATETIME(6)     NOT NULL,
  created_at    DATETIME(6)     NOT NULL,
  PRIMARY KEY (id),
  KEY ix_sms_customer (customer_id),
  KEY ix_sms_created_at (created_at),
  CONSTRAINT fk_sms_customer FOREIGN KEY (customer_id) REFERENCES customers (id),
  CONSTRAINT ck_sms_bank_flag CHECK (is_bank_sms IN (0, 1)),
  CONSTRAINT ck_sms_time CHECK (sms_at <= created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS communications (
  id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  customer_id    BIGINT UNSIGNED NOT NULL,
  campaign_code  VARCHAR(48)     NOT NULL,
  channel        ENUM('sms','email','push','whatsapp') NOT NULL,
  template_code  VARCHAR(48)     NOT NULL,
  status         ENUM('queued','sent','failed','bounced') NOT NULL,
  created_at     DATETIME(6)     NOT NULL,
  updated_at     DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  KEY ix_comm_customer (customer_id),
  KEY ix_comm_campaign (campaign_code),
  KEY ix_comm_created_at (created_at),
  KEY ix_comm_updated_at (updated_at),
  CONSTRAINT fk_comm_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS communication_events (
  id                BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  communication_id  BIGINT UNSIGNED NOT NULL,
  event_type        ENUM('sent','delivered','opened','clicked','bounced','failed') NOT NULL,
  metadata          JSON            NULL,
  created_at        DATETIME(6)     NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_comm_event (communication_id, event_type),
  KEY ix_comm_events_created_at (created_at),
  CONSTRAINT fk_comm_events_comm FOREIGN KEY (communication_id) REFERENCES communications (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS api_request_logs (
  id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  request_id   CHAR(32)        NOT NULL,
  customer_id  BIGINT UNSIGNED NULL,
  method       ENUM('GET','POST','PUT','PATCH','DELETE') NOT NULL,
  path         VARCHAR(255)    NOT NULL,
  status_code  SMALLINT UNSIGNED NOT NULL,
  latency_ms   INT UNSIGNED    NOT NULL,
  client_ip    VARCHAR(45)     NOT NULL,
  user_agent   VARCHAR(255)    NOT NULL,
  created_at   DATETIME(6)     NOT NULL,
  PRIMARY KEY (id),
  KEY ix_api_logs_created_at (created_at),
  CONSTRAINT ck_api_status CHECK (status_code BETWEEN 100 AND 599),
  CONSTRAINT ck_api_latency CHECK (latency_ms < 600000)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
