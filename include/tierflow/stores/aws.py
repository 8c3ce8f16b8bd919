"""AWS clients (Glue, IAM, Kinesis, ...) built from the settings: region, endpoint and, when the
settings carry them (Airflow's ``aws_default`` Connection), explicit credentials."""

from __future__ import annotations

from typing import Any

from tierflow.config import Settings


def client(settings: Settings, service: str, **kwargs: Any) -> Any:
    """``boto3.client(service)`` with ``settings.aws_client_kwargs(service)``; ``kwargs`` add to them
    (a botocore ``config=``)."""
    import boto3

    return boto3.client(service, **settings.aws_client_kwargs(service), **kwargs)
