"""The "Storage tiers" page of the Airflow UI: a FastAPI app the tierflow plugin mounts on the API server."""
