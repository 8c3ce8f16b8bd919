"""Airflow glue for tierflow: hooks that turn Connections into tierflow settings, thin operators."""
