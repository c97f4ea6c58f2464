"""Files an artifact records by reference (never copied): ``file://``, ``s3://`` and
``http(s)://`` URIs, with ``*`` globs for the first two. A reference keeps a digest of
what was there when it was logged (BLAKE3 for files, the ETag for objects), and a
download that finds different content is an error naming the file."""

from __future__ import annotations

import fnmatch
import os
import shutil
from pathlib import Path
from typing import Any

from assay import digests
from assay.errors import CorruptData, InvalidInput, NotFound, StoreUnavailable
from assay.records import FileEntry

_GLOB = "*?["


def resolve_reference(uri: str, name: str | None = None) -> list[FileEntry]:
    """The files a reference URI names, each with its digest or ETag and size."""
    if not isinstance(uri, str) or "://" not in uri:
        raise InvalidInput(f"reference {uri!r} must be a URI (file://, s3://, http(s)://)")
    scheme = uri.split("://", 1)[0]
    if scheme == "file":
        found = _local(uri)
    elif scheme == "s3":
        found = _s3(uri)
    elif scheme in ("http", "https"):
        found = [_http(uri)]
    else:
        raise InvalidInput(f"reference {uri!r}: scheme {scheme!r} is not supported")
    if not found:
        raise NotFound(f"reference {uri!r} matches no file")
    if name is not None:
        if len(found) != 1:
            raise InvalidInput(f"reference {uri!r} matches {len(found)} files; drop name=")
        found = [FileEntry(path=name, size=found[0].size, digest=found[0].digest, ref=found[0].ref)]
    return found


def _split_glob(path: str) -> tuple[str, str | None]:
    """(the fixed folder before any glob character, the pattern or None)."""
    cut = min((path.find(c) for c in _GLOB if c in path), default=-1)
    if cut < 0:
        return path, None
    base = path[:cut].rsplit("/", 1)[0]
    return base, path


def _local(uri: str) -> list[FileEntry]:
    path = uri[len("file://") :]
    base, pattern = _split_glob(path)
    if pattern is None:
        file = Path(path)
        if not file.is_file():
            raise NotFound(f"reference {uri!r}: no such file")
        matches, base = [file], str(file.parent)
    else:
        matches = _glob(Path(base), pattern)
    return [
        FileEntry(
            path=str(p.relative_to(base)),
            size=p.stat().st_size,
            digest=digests.of_file(p),
            ref=f"file://{p}",
        )
        for p in matches
    ]


def _glob(base: Path, pattern: str) -> list[Path]:
    """The files under ``base`` that match, through symbolic links wherever they point
    (nothing is copied); a matching broken link is an error, never a silent gap."""
    from assay.artifacts.folder import files_of

    if not base.is_dir():
        return []
    found = files_of(base, True, lambda inner: fnmatch.fnmatch(str(base / inner), pattern))
    return [base / inner for inner, _ in found]


def _bucket(uri: str) -> tuple[Any, str, str]:
    import obstore.store

    rest = uri[len("s3://") :]
    bucket, _, key = rest.partition("/")
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL", "")
    options: Any = {"allow_http": endpoint.startswith("http://")}
    return obstore.store.from_url(f"s3://{bucket}", client_options=options), bucket, key


def _s3(uri: str) -> list[FileEntry]:
    import obstore

    store, bucket, key = _bucket(uri)
    base, pattern = _split_glob(key)
    prefix = key if pattern is None else base
    try:
        metas = [m for page in obstore.list(store, prefix=prefix or None) for m in page]
    except Exception as exc:
        raise StoreUnavailable(f"cannot list {uri}: {exc}") from exc
    if pattern is None:
        metas = [m for m in metas if m["path"] == key]
        base = key.rsplit("/", 1)[0] if "/" in key else ""
    else:
        metas = [m for m in metas if fnmatch.fnmatch(m["path"], pattern)]
    return [
        FileEntry(
            path=m["path"][len(base) :].lstrip("/") if base else m["path"],
            size=int(m["size"]),
            digest=f"etag:{m['e_tag']}",
            ref=f"s3://{bucket}/{m['path']}",
        )
        for m in sorted(metas, key=lambda m: m["path"])
    ]


def _http(uri: str) -> FileEntry:
    import httpx

    try:
        response = httpx.head(uri, follow_redirects=True, timeout=30)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise StoreUnavailable(f"cannot reach reference {uri}: {exc}") from exc
    etag = response.headers.get("etag")
    if not etag:
        raise InvalidInput(f"reference {uri} has no ETag, so a change could not be detected")
    name = uri.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0] or "file"
    size = int(response.headers.get("content-length", 0))
    return FileEntry(path=name, size=size, digest=f"etag:{etag}", ref=uri)


def fetch_reference(entry: FileEntry, target: Path) -> None:
    """Copy a referenced file to ``target``, refusing content that changed since it was
    logged."""
    assert entry.ref is not None
    scheme = entry.ref.split("://", 1)[0]
    if scheme == "file":
        shutil.copyfile(entry.ref[len("file://") :], target)
        found = digests.of_file(target)
    elif scheme == "s3":
        found = _fetch_s3(entry.ref, target)
    else:
        found = _fetch_http(entry.ref, target)
    if found != entry.digest:
        raise CorruptData(
            f"{entry.path}: the referenced file {entry.ref} changed since it was logged"
        )


def _fetch_s3(uri: str, target: Path) -> str:
    import obstore

    store, _, key = _bucket(uri)
    try:
        result = obstore.get(store, key)
        with open(target, "wb") as f:
            for part in result.stream():
                f.write(part)
    except FileNotFoundError:
        raise NotFound(f"the referenced object {uri} no longer exists") from None
    except Exception as exc:
        raise StoreUnavailable(f"cannot read {uri}: {exc}") from exc
    return f"etag:{result.meta['e_tag']}"


def _fetch_http(uri: str, target: Path) -> str:
    import httpx

    try:
        with httpx.stream("GET", uri, follow_redirects=True, timeout=60) as response:
            response.raise_for_status()
            with open(target, "wb") as f:
                for part in response.iter_bytes():
                    f.write(part)
            return f"etag:{response.headers.get('etag', '')}"
    except httpx.HTTPError as exc:
        raise StoreUnavailable(f"cannot read {uri}: {exc}") from exc
