"""The Airflow Connection and Variable ids tierflow reads, in one place.

Each maps to one tierflow setting; when a Connection is missing, the TIERFLOW_* environment variable
(or its local default) is used instead, so a local `airflow dags test` needs no setup.
"""

MYSQL_CONN_ID = "tierflow_mysql"  # conn type mysql: the source (Aurora MySQL / MariaDB)
WAREHOUSE_CONN_ID = "tierflow_warehouse"  # conn type postgres or redshift: the warehouse (the loader)
WAREHOUSE_BUILD_CONN_ID = "tierflow_warehouse_build"  # the builder (dbt, mart gates, publish); optional
REDIS_CONN_ID = "tierflow_redis"  # conn type redis: the hot tier
# conn type aws: region (extra region_name), endpoint (extra endpoint_url) and keys (login,
# password) of every AWS client: S3, Glue, IAM, Kinesis, Redshift's IAM sign-in (hooks.aws_settings)
AWS_CONN_ID = "aws_default"
ARCHIVE_URI_VARIABLE = "tierflow_archive_uri"  # s3://bucket/prefix or file:///dir
POLICY_VARIABLE = "tierflow_policy"  # path of the tier policy YAML

# Pool that bounds concurrent load on the source MySQL (created by the DAGs' setup, 2 slots).
MYSQL_POOL = "tierflow_mysql"
