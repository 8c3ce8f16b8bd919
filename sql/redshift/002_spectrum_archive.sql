-- Redshift Spectrum: the Parquet archive on S3 as the external schema `archive`, over the Glue
-- database `tierflow_archive` that `tierflow archive` keeps (one Glue table per MySQL table, same
-- name, partitioned by dt = 'YYYY-MM-DD' for daily tables or 'YYYY-MM' for monthly ones; PII
-- columns arrive dropped or hashed as include/tiers.yaml says).
-- Needs an IAM role the cluster/workgroup can assume with glue:Get* on tierflow_archive and
-- s3:GetObject/ListBucket on the archive bucket (plus kms:Decrypt when sse is aws:kms).
-- Run with psql, passing the role:
--   psql "$REDSHIFT_URL" -v iam_role="'arn:aws:iam::123456789012:role/tierflow-spectrum'" \
--        -f sql/redshift/002_spectrum_archive.sql

create external schema if not exists archive
from data catalog
database 'tierflow_archive'
region 'ap-south-1'
iam_role :iam_role;

-- No grant on `archive`: USAGE on an external schema reads every table in it. Its owner (the
-- admin who runs this file and 003_history_views.sql) reads it for the `history` views, which
-- 000_access.sql opens to tierflow_analysts.
