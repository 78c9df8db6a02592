"""Where the lake's files live: a local directory, or an S3-compatible object store.

`lake_storage(data_dir, lake_url)` gives the lake its storage: `<data_dir>/lake` on the local filesystem, or,
when `lake_url` is `s3://bucket/prefix`, `s3://bucket/prefix/lake` through pyarrow's S3 filesystem. DuckDB reads
the same objects through its `httpfs` extension (`configure_duckdb`), so the analysts' catalog views list
`s3://` URLs and the catalog file itself is uploaded beside the lake (`s3://bucket/prefix/warehouse.duckdb`).

The object store is configured the way every S3 client is: `AWS_ENDPOINT_URL` (an S3-compatible server such
as MinIO or Ceph; unset for AWS), `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (/ `AWS_SESSION_TOKEN`),
`AWS_REGION` or `AWS_DEFAULT_REGION`. They are read when a lake is opened (in a run), never at import, and the
keys go into a temporary DuckDB secret, never into the catalog file.

Why the same commit protocol holds on an object store (lake.store): a PUT makes an object visible whole
or not at all, so a version is uploaded from a finished local temporary straight to its own name (no rename
needed), and the manifest PUT is the commit. What an object store lacks is a lock: the commit lock is a local
flock, so concurrent publishes must come from one host, or be serialised by the Dagster instance (the
publish steps run in the `catalog_publish` pool; docs/deployment.md).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath
from typing import Any, Protocol
from urllib.parse import urlparse

import duckdb

from lake.files import replace_durably, temporary_file

S3_SCHEME = "s3://"


class S3Path(PurePosixPath):
    """An object key `bucket/prefix/...` that prints (and `os.fspath`s) as `s3://bucket/prefix/...`, so the
    lake's path arithmetic (`/`, `.name`, `.parent`) is the same for both storages."""

    @classmethod
    def from_url(cls, url: str) -> S3Path:
        if not url.startswith(S3_SCHEME) or len(url) <= len(S3_SCHEME):
            raise ValueError(f"not an s3:// URL: {url!r}")
        return cls(url[len(S3_SCHEME) :].strip("/"))

    def __str__(self) -> str:
        return S3_SCHEME + super().__str__()

    @property
    def key(self) -> str:
        """`bucket/prefix/...`, as pyarrow's S3 filesystem names it."""
        return super().__str__()

    @property
    def bucket(self) -> str:
        return self.parts[0]


def is_object_url(location: str | os.PathLike[str] | None) -> bool:
    return location is not None and str(location).startswith(S3_SCHEME)


@dataclass(frozen=True)
class ObjectStoreConfig:
    """How to reach the object store (from the standard AWS environment variables)."""

    endpoint_url: str | None
    access_key: str | None
    secret_key: str | None
    session_token: str | None
    region: str

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ObjectStoreConfig:
        env = os.environ if environ is None else environ
        return cls(
            endpoint_url=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None,
            access_key=env.get("AWS_ACCESS_KEY_ID") or None,
            secret_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            session_token=env.get("AWS_SESSION_TOKEN") or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        )

    @property
    def endpoint(self) -> tuple[str, str] | None:
        """(scheme, host[:port]) of an S3-compatible endpoint; None for AWS itself."""
        if not self.endpoint_url:
            return None
        parsed = urlparse(self.endpoint_url if "://" in self.endpoint_url else f"https://{self.endpoint_url}")
        return parsed.scheme or "https", parsed.netloc

    def pyarrow_filesystem(self, **options: Any) -> Any:
        """pyarrow's S3 filesystem; `options` are passed on (e.g. allow_bucket_creation for test set-up)."""
        from pyarrow import fs

        settings: dict[str, Any] = {"region": self.region, **options}
        if self.access_key and self.secret_key:
            settings.update(access_key=self.access_key, secret_key=self.secret_key, session_token=self.session_token)
        if self.endpoint is not None:
            scheme, host = self.endpoint
            settings.update(endpoint_override=host, scheme=scheme, force_virtual_addressing=False)
        return fs.S3FileSystem(**settings)


def httpfs_extension_file() -> Path | None:
    """The httpfs build of the pinned `duckdb-extension-httpfs` package (loads offline), if installed."""
    try:
        import duckdb_extension_httpfs
    except ImportError:
        return None
    candidate = (
        Path(duckdb_extension_httpfs.__file__).parent
        / "extensions"
        / f"v{duckdb.__version__}"
        / "httpfs.duckdb_extension"
    )
    return candidate if candidate.exists() else None


def configure_duckdb(
    connection: duckdb.DuckDBPyConnection, config: ObjectStoreConfig | None = None, scope: str | None = None
) -> None:
    """Let `connection` read `s3://` objects: load httpfs and create a temporary (never persisted) secret."""
    config = config or ObjectStoreConfig.from_env()
    extension = httpfs_extension_file()
    try:
        connection.execute(f"load '{extension}'" if extension else "load httpfs")
    except duckdb.Error as error:
        raise RuntimeError(
            f"DuckDB {duckdb.__version__} cannot load httpfs (needed for s3:// lakes): {error}; install "
            f"duckdb-extension-httpfs=={duckdb.__version__}"
        ) from error
    if not (config.access_key and config.secret_key):
        raise RuntimeError("an s3:// lake needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment")
    options = [("TYPE", "s3"), ("KEY_ID", config.access_key), ("SECRET", config.secret_key), ("REGION", config.region)]
    if config.session_token:
        options.append(("SESSION_TOKEN", config.session_token))
    if config.endpoint is not None:
        scheme, host = config.endpoint
        options += [("ENDPOINT", host), ("URL_STYLE", "path"), ("USE_SSL", scheme == "https")]
    if scope:
        options.append(("SCOPE", scope))
    rendered = ", ".join(
        f"{name} {value}"
        if name == "TYPE" or isinstance(value, bool)
        else f"{name} '{str(value).replace(chr(39), chr(39) * 2)}'"
        for name, value in options
    )
    connection.execute(f"create or replace temporary secret glioma_lake ({rendered})")


class LakeStorage(Protocol):
    """What lake.store needs of a filesystem. Paths are `Path` (local) or `S3Path`."""

    root: PurePath
    is_local: bool

    def child_names(self, directory: PurePath) -> list[str]: ...
    def exists(self, path: PurePath) -> bool: ...
    def change_stamp(self, path: PurePath) -> tuple[int, int] | None: ...
    def read_bytes(self, path: PurePath) -> bytes: ...
    def open_input(self, path: PurePath) -> Any: ...
    def install(self, finished: Path, target: PurePath) -> int: ...
    def put_file(self, source: Path, target: PurePath) -> int: ...
    def staging_file(self, target: PurePath) -> Path: ...
    def delete(self, path: PurePath) -> None: ...
    def configure_duckdb(self, connection: duckdb.DuckDBPyConnection) -> None: ...


class LocalStorage:
    """The lake as a directory: versions are renamed into place (os.replace is atomic on one filesystem)."""

    is_local = True

    def __init__(self, root: Path) -> None:
        self.root = root

    def child_names(self, directory: PurePath) -> list[str]:
        try:
            return [entry.name for entry in os.scandir(directory)]
        except (FileNotFoundError, NotADirectoryError):
            return []

    def exists(self, path: PurePath) -> bool:
        return os.path.exists(path)

    def change_stamp(self, path: PurePath) -> tuple[int, int] | None:
        stat = os.stat(path)  # FileNotFoundError when absent
        return stat.st_mtime_ns, stat.st_size

    def read_bytes(self, path: PurePath) -> bytes:
        return Path(path).read_bytes()

    def open_input(self, path: PurePath) -> Any:
        return Path(path)

    def install(self, finished: Path, target: PurePath) -> int:
        size = finished.stat().st_size
        replace_durably(finished, target)
        return size

    def put_file(self, source: Path, target: PurePath) -> int:
        shutil.copyfile(source, target)
        return source.stat().st_size

    def staging_file(self, target: PurePath) -> Path:

        return temporary_file(Path(target))

    def delete(self, path: PurePath) -> None:
        Path(path).unlink(missing_ok=True)

    def configure_duckdb(self, connection: duckdb.DuckDBPyConnection) -> None:
        return None


class ObjectStorage:
    """The lake under an `s3://bucket/prefix` URL. A version is written to a local temporary under
    `<data_dir>/.lake-staging` and uploaded when whole: the object appears complete or not at all."""

    is_local = False

    def __init__(self, root: S3Path, staging_dir: Path, config: ObjectStoreConfig | None = None) -> None:
        self.root = root
        self.staging_dir = staging_dir
        self.config = config or ObjectStoreConfig.from_env()
        self.filesystem = self.config.pyarrow_filesystem()

    def _key(self, path: PurePath) -> str:
        if not isinstance(path, S3Path):
            raise TypeError(f"{path!r} is not an object-store path of {self.root}")
        return path.key

    def child_names(self, directory: PurePath) -> list[str]:
        from pyarrow import fs

        try:
            infos = self.filesystem.get_file_info(fs.FileSelector(self._key(directory), allow_not_found=True))
        except FileNotFoundError:
            return []
        return [PurePosixPath(info.path).name for info in infos]

    def exists(self, path: PurePath) -> bool:
        from pyarrow import fs

        return self.filesystem.get_file_info(self._key(path)).type != fs.FileType.NotFound

    def change_stamp(self, path: PurePath) -> tuple[int, int] | None:
        # Object mtimes have one-second resolution: never trust them to tell two commits apart.
        if not self.exists(path):
            raise FileNotFoundError(str(path))
        return None

    def read_bytes(self, path: PurePath) -> bytes:
        with self.filesystem.open_input_stream(self._key(path)) as stream:
            return stream.read()

    def open_input(self, path: PurePath) -> Any:
        return self.filesystem.open_input_file(self._key(path))

    def put_file(self, source: Path, target: PurePath) -> int:
        """Upload a whole local file (a multipart upload is invisible until it completes)."""
        with open(source, "rb") as data, self.filesystem.open_output_stream(self._key(target)) as out:
            shutil.copyfileobj(data, out, length=8 * 1024 * 1024)
        return source.stat().st_size

    def install(self, finished: Path, target: PurePath) -> int:
        try:
            return self.put_file(finished, target)
        finally:
            finished.unlink(missing_ok=True)

    def staging_file(self, target: PurePath) -> Path:

        return temporary_file(self.staging_dir / target.name)

    def delete(self, path: PurePath) -> None:
        try:
            self.filesystem.delete_file(self._key(path))
        except FileNotFoundError:
            pass

    def configure_duckdb(self, connection: duckdb.DuckDBPyConnection) -> None:
        configure_duckdb(connection, self.config)

    def walk(self, directory: PurePath) -> Iterator[S3Path]:
        from pyarrow import fs

        selector = fs.FileSelector(self._key(directory), recursive=True, allow_not_found=True)
        for info in self.filesystem.get_file_info(selector):
            if info.type == fs.FileType.File:
                yield S3Path(info.path)


def lake_storage(data_dir: Path, lake_url: str | None = None) -> LocalStorage | ObjectStorage:
    if not lake_url:
        return LocalStorage(data_dir / "lake")
    if not is_object_url(lake_url):
        raise ValueError(f"GLIOMA_LAKE_URL must be an s3:// URL (got {lake_url!r}); leave it unset for <data_dir>/lake")
    return ObjectStorage(S3Path.from_url(lake_url) / "lake", data_dir / ".lake-staging")
