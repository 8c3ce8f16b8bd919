"""The archive's object store: one interface over ``s3://bucket/prefix`` and ``file:///dir``.

S3 goes through boto3 (any S3 HTTP API: AWS, MinIO, moto's server via ``AWS_ENDPOINT_URL``), with
server-side encryption and a storage class on every put. ``file://`` keeps the same key layout on a
local disk, writing through a temporary file and a rename so a reader never sees half an object.
``put_new`` creates a key only if it does not exist (S3 ``If-None-Match: *``, an exclusive link on
disk): the archive writes every object that way, so no write can replace another.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from tierflow.errors import ServiceUnavailable, TierflowError

# Top-level names starting with this belong to tierflow itself (the warehouse's staging), never to
# a database's archive: no MySQL database or table that starts with it can be archived.
RESERVED_PREFIX = "_tierflow_"
STAGING_PREFIX = f"{RESERVED_PREFIX}staging"


class ReservedNameError(TierflowError):
    """A database or table name falls in the store's reserved namespace."""


def check_archive_name(kind: str, name: str) -> str:
    """``name`` (a MySQL database or table whose archive lives under ``<database>/<table>/``)
    unless it starts with RESERVED_PREFIX, where it could meet tierflow's own objects."""
    if name.startswith(RESERVED_PREFIX):
        raise ReservedNameError(
            f"the MySQL {kind} {name!r} starts with {RESERVED_PREFIX!r}, which the archive store "
            f"reserves for tierflow's own objects ({STAGING_PREFIX}/ holds the warehouse's staging); "
            f"rename the {kind} to archive it"
        )
    return name


class ObjectExistsError(TierflowError):
    """``put_new`` found the key already there: the object is left as it was."""

    def __init__(self, uri: str) -> None:
        super().__init__(
            f"object {uri} already exists; archive objects are never replaced. A second writer "
            "produced the same name: stop and compare it with the ledger (`tierflow archive verify`)."
        )


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int


@dataclass(frozen=True)
class PutOptions:
    sse: str | None = "AES256"
    kms_key_id: str | None = None
    storage_class: str | None = None


class ObjectStore:
    """Keys are relative to the store's root (``bucket/prefix`` or a directory)."""

    uri: str

    def put_bytes(self, key: str, data: bytes, options: PutOptions | None = None) -> None: ...
    def put_file(self, key: str, path: Path, options: PutOptions | None = None) -> None: ...
    def put_new(self, key: str, data: bytes, options: PutOptions | None = None) -> None:
        """Create ``key``; raise ObjectExistsError, changing nothing, if it exists."""
        raise NotImplementedError

    def get_bytes(self, key: str) -> bytes:
        raise NotImplementedError

    def open(self, key: str) -> BinaryIO:
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError

    def size(self, key: str) -> int | None: ...
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        raise NotImplementedError

    def delete(self, key: str) -> None: ...
    def url(self, key: str) -> str:
        return f"{self.uri.rstrip('/')}/{key}"


class LocalStore(ObjectStore):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.uri = root.as_uri()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not str(path).startswith(str(self.root.resolve())):
            raise TierflowError(f"object key {key!r} escapes the archive root {self.root}")
        return path

    def _atomic_write(self, key: str, writer) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                writer(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_bytes(self, key: str, data: bytes, options: PutOptions | None = None) -> None:
        self._atomic_write(key, lambda fh: fh.write(data))

    def put_new(self, key: str, data: bytes, options: PutOptions | None = None) -> None:
        # a hard link to the finished temporary file: atomic, and refused when the name exists
        # (a rename would replace it)
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise ObjectExistsError(self.url(key)) from None
        finally:
            Path(tmp).unlink(missing_ok=True)

    def put_file(self, key: str, path: Path, options: PutOptions | None = None) -> None:
        def copy(fh: BinaryIO) -> None:
            with open(path, "rb") as src:
                shutil.copyfileobj(src, fh, 4 << 20)

        self._atomic_write(key, copy)

    def get_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int | None:
        p = self._path(key)
        return p.stat().st_size if p.is_file() else None

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        base = self.root / prefix if prefix else self.root
        # A prefix may end mid-name ("t/dt=2024-0"): walk from its directory and filter.
        start = base if base.is_dir() else base.parent
        if not start.exists():
            return
        for path in sorted(start.rglob("*")):
            if path.is_file() and not path.name.startswith(".tmp-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield ObjectInfo(key, path.stat().st_size)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3Store(ObjectStore):
    def __init__(
        self,
        bucket: str,
        prefix: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        credentials: dict[str, str] | None = None,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.uri = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.endpoint_url = endpoint_url
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            **(credentials or {}),
            config=Config(
                retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60
            ),
        )

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    @staticmethod
    def _extra(options: PutOptions | None) -> dict[str, str]:
        extra: dict[str, str] = {}
        if options is None:
            return extra
        if options.sse:
            extra["ServerSideEncryption"] = options.sse
        if options.kms_key_id:
            extra["SSEKMSKeyId"] = options.kms_key_id
        if options.storage_class:
            extra["StorageClass"] = options.storage_class
        return extra

    def _call(self, fn, *args, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

        try:
            return fn(*args, **kwargs)
        except EndpointConnectionError as exc:
            raise ServiceUnavailable(f"S3 endpoint for {self.uri} is not reachable: {exc}") from None
        except ClientError:
            raise
        except BotoCoreError as exc:
            raise ServiceUnavailable(f"S3 request for {self.uri} failed: {exc}") from None

    def put_bytes(self, key: str, data: bytes, options: PutOptions | None = None) -> None:
        self._call(
            self.client.put_object, Bucket=self.bucket, Key=self._key(key), Body=data, **self._extra(options)
        )

    def put_new(self, key: str, data: bytes, options: PutOptions | None = None) -> None:
        from botocore.exceptions import ClientError

        try:
            self._call(
                self.client.put_object,
                Bucket=self.bucket,
                Key=self._key(key),
                Body=data,
                IfNoneMatch="*",
                **self._extra(options),
            )
        except ClientError as exc:
            # 412: the key exists; 409: a concurrent conditional write on the same key won
            if exc.response.get("Error", {}).get("Code") in {
                "PreconditionFailed",
                "ConditionalRequestConflict",
            }:
                raise ObjectExistsError(self.url(key)) from None
            raise

    def put_file(self, key: str, path: Path, options: PutOptions | None = None) -> None:
        self._call(
            self.client.upload_file, str(path), self.bucket, self._key(key), ExtraArgs=self._extra(options)
        )

    def get_bytes(self, key: str) -> bytes:
        return self._call(self.client.get_object, Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def open(self, key: str) -> BinaryIO:
        import io

        return io.BytesIO(self.get_bytes(key))

    def size(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            head = self._call(self.client.head_object, Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise
        return int(head["ContentLength"])

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    def head(self, key: str) -> dict:
        return self._call(self.client.head_object, Bucket=self.bucket, Key=self._key(key))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        full = self._key(prefix) if prefix else (self.prefix + "/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0
        pages = self._call(lambda: list(paginator.paginate(Bucket=self.bucket, Prefix=full)))
        for page in pages:
            for obj in page.get("Contents", []):
                yield ObjectInfo(obj["Key"][strip:], int(obj["Size"]))

    def delete(self, key: str) -> None:
        self._call(self.client.delete_object, Bucket=self.bucket, Key=self._key(key))


def open_store(
    uri: str,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    credentials: dict[str, str] | None = None,
) -> ObjectStore:
    """The store for ``file:///dir`` or ``s3://bucket/prefix``; ``credentials``: explicit AWS keys
    as boto3 names them (``Settings.aws_credentials()``), else boto3's credential chain."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        root = Path(unquote(parts.path))
        root.mkdir(parents=True, exist_ok=True)
        return LocalStore(root)
    if parts.scheme in {"s3", "s3a"}:
        if not parts.netloc:
            raise TierflowError(f"archive URI {uri!r} names no bucket (expected s3://bucket/prefix)")
        return S3Store(
            parts.netloc, parts.path, endpoint_url=endpoint_url, region=region, credentials=credentials
        )
    raise TierflowError(
        f"archive URI {uri!r}: unsupported scheme {parts.scheme!r}; use file:///path or s3://bucket/prefix"
    )


def store_for(settings) -> ObjectStore:
    s3 = settings.aws_client_kwargs("s3")
    return open_store(
        settings.archive_uri,
        endpoint_url=s3.pop("endpoint_url"),
        region=s3.pop("region_name"),
        credentials=s3,
    )
