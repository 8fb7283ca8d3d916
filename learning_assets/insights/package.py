"""Verification of a received submission package (the format of `learning_assets.governance.submit`).

Nothing in a package is trusted. It is unpacked in one streaming pass that refuses, before writing
anything, members that are not plain files in the one top directory (absolute names, `..`, links,
devices, duplicates, unexpected names), members or totals over the size limits, and more bytes of
decompressed stream than the limits allow (a gzip bomb stops there); each member is then written
by `tarfile`'s `data` filter. Only then are the checksums, the manifest, the JSON Schema version
(1.0 documents are migrated to 1.1), the anonymization report and every table checked.

Every failure is a `Rejected(code, reason)`; the reason never quotes submitted values.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import json
import re
import shutil
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd
import pandera.errors
import pyarrow as pa
import pyarrow.parquet as pq

from learning_assets.exportfiles import migration, versions
from learning_assets.exportfiles.manifest import (
    PACKAGE_FILES,
    SUBMISSION_FORMAT,
    verify_manifest,
)
from learning_assets.exportfiles.parquet import read_arrow_frame
from learning_assets.governance import identity
from learning_assets.governance.withdrawal import HEX64
from learning_assets.privacy.leaks import scan_export
from learning_assets.privacy.pseudonyms import PROJECT_PSEUDONYM
from learning_assets.sources.frames import conform
from learning_assets.tables import ANONYMIZED, TABLE_NAMES

FORMAT = SUBMISSION_FORMAT
FORMAT_VERSIONS = (1,)
CONTROL = PACKAGE_FILES
EXPORT_FILES = ("export_metadata.json", "anonymization_report.json", "manifest.json", "learning_export.json",
                "learning_export.json.gz")
TOP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
CHECKSUM_LINE = re.compile(r"^([0-9a-f]{64})  (\S(?:.*\S)?)$")
CHUNK = 1 << 20


class Rejected(Exception):
    """A submission that is refused: `code` is a short category, `reason` a one-line explanation."""

    def __init__(self, code: str, reason: str):
        super().__init__(f"{code}: {reason}")
        self.code, self.reason = code, reason


@dataclass(frozen=True)
class Limits:
    max_package_bytes: int = 256 << 20
    max_member_bytes: int = 128 << 20
    max_total_bytes: int = 512 << 20
    max_members: int = 64


@dataclass
class Verified:
    """A package that passed every check: its identity and its tables, conformed to the schemas."""

    project: str
    export_id: str
    export_created_at: str
    schema_version: str
    tables: dict[str, pd.DataFrame]
    metadata: dict
    report: dict
    migrated_from: str | None = None
    warnings: list[str] = field(default_factory=list)
    withdrawal_commitment: str | None = None  # from SUBMISSION.json; None for packages made without one


def allowed_member(rel: str) -> bool:
    if rel in CONTROL or rel in EXPORT_FILES:
        return True
    parts = rel.split("/")
    return len(parts) == 2 and parts[0] == "tables" and parts[1].endswith(".parquet") and \
        parts[1][: -len(".parquet")] in TABLE_NAMES


def sha256_file(path: Path, limit: int | None = None) -> str:
    h = hashlib.sha256()
    read = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            read += len(chunk)
            if limit is not None and read > limit:
                raise Rejected("too_large", f"package is larger than {limit} bytes")
            h.update(chunk)
    return h.hexdigest()


class _Bounded(io.RawIOBase):
    """A read-only stream that refuses to deliver more than `limit` bytes (decompressed)."""

    def __init__(self, inner, limit: int):
        self.inner, self.limit, self.count = inner, limit, 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0 or self.count + n > self.limit:
            want = self.limit - self.count + 1
            if n is not None and 0 <= n < want:
                want = n
            data = self.inner.read(want)
            self.count += len(data)
            if self.count > self.limit:
                raise Rejected("unsafe_member", f"package unpacks to more than {self.limit} bytes")
            return data
        data = self.inner.read(n)
        self.count += len(data)
        return data

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def environmental(exc: OSError) -> bool:
    """Errors of the receiving machine (disk full, quota, read-only store) rather than of the package."""
    return exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.ENOMEM)


def _member_name(name: str) -> PurePosixPath:
    if not name or "\\" in name or "\x00" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise Rejected("unsafe_member", "member with an absolute or malformed name")
    path = PurePosixPath(name)
    if any(part in ("..", ".", "") for part in name.rstrip("/").split("/")):
        raise Rejected("unsafe_member", "member name with '..' or empty parts (path traversal)")
    return path


def safe_extract(package: Path, dest: Path, limits: Limits) -> Path:
    """Unpack `package` into `dest` (which must not exist); returns the package's top directory."""
    size = package.stat().st_size
    if size > limits.max_package_bytes:
        raise Rejected("too_large", f"package is {size} bytes, over the limit of {limits.max_package_bytes}")
    dest.mkdir(parents=True)
    top: str | None = None
    seen: set[str] = set()
    total = members = 0
    try:
        with open(package, "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz:
            # member data plus headers; the allowance covers tar's 512-byte blocks and PAX headers
            bounded = io.BufferedReader(_Bounded(gz, limits.max_total_bytes + (limits.max_members + 4) * 4096),
                                        buffer_size=64 * 1024)
            with tarfile.open(fileobj=bounded, mode="r|") as tar:
                for member in tar:
                    members += 1
                    if members > limits.max_members:
                        raise Rejected("unsafe_member", f"more than {limits.max_members} members")
                    path = _member_name(member.name)
                    first = path.parts[0]
                    if top is None:
                        if not TOP.match(first):
                            raise Rejected("layout", "top directory has an unexpected name")
                        top = first
                    elif first != top:
                        raise Rejected("layout", "members outside the one top directory")
                    rel = "/".join(path.parts[1:])
                    if member.isdir():
                        if rel not in ("", "tables"):
                            raise Rejected("unsafe_member", "unexpected directory in the package")
                        continue
                    if not member.isreg():
                        raise Rejected("unsafe_member", "member that is not a regular file (link, device or fifo)")
                    if not allowed_member(rel):
                        raise Rejected("unsafe_member", f"unexpected file {rel[:80]!r} in the package")
                    if rel in seen:
                        raise Rejected("unsafe_member", f"{rel} appears twice")
                    seen.add(rel)
                    if member.size > limits.max_member_bytes:
                        raise Rejected("unsafe_member", f"{rel} is {member.size} bytes, over the limit of "
                                                        f"{limits.max_member_bytes}")
                    total += member.size
                    if total > limits.max_total_bytes:
                        raise Rejected("unsafe_member", f"package unpacks to more than {limits.max_total_bytes} bytes")
                    try:
                        tar.extract(member, dest, filter="data", set_attrs=False)
                    except tarfile.FilterError as exc:
                        raise Rejected("unsafe_member", f"refused by tarfile's data filter: {type(exc).__name__}")
    except Rejected:
        raise
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, UnicodeError) as exc:
        raise Rejected("corrupt_archive", f"not a readable tar.gz ({type(exc).__name__})")
    except OSError as exc:
        if environmental(exc):
            raise  # the receiver's disk, not the package: fail the run so it can be retried
        raise Rejected("corrupt_archive", f"cannot read the package ({type(exc).__name__}: {exc.strerror or exc})")
    if top is None:
        raise Rejected("layout", "empty archive")
    return dest / top


def _load_json(path: Path, what: str):
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise Rejected("layout", f"{what} is missing")
    except (ValueError, UnicodeError, RecursionError):
        raise Rejected("layout", f"{what} is not valid JSON")


def verify_checksums(top: Path) -> dict:
    """SUBMISSION.json and checksums.sha256 against the unpacked files; returns SUBMISSION.json."""
    description = _load_json(top / "SUBMISSION.json", "SUBMISSION.json")
    if not isinstance(description, dict) or description.get("format") != FORMAT:
        raise Rejected("layout", f"SUBMISSION.json does not describe a {FORMAT}")
    if description.get("format_version") not in FORMAT_VERSIONS:
        raise Rejected("layout", f"unsupported format_version {description.get('format_version')!r}")
    files = {p.relative_to(top).as_posix(): p for p in top.rglob("*") if p.is_file()}
    try:
        lines = (top / "checksums.sha256").read_text().splitlines()
    except (OSError, UnicodeError):
        raise Rejected("checksum_mismatch", "checksums.sha256 is missing or unreadable")
    listed: dict[str, str] = {}
    for line in lines:
        m = CHECKSUM_LINE.match(line)
        if not m or m.group(2) in listed:
            raise Rejected("checksum_mismatch", "checksums.sha256 has a malformed or repeated line")
        listed[m.group(2)] = m.group(1)
    if set(listed) != set(files) - {"checksums.sha256"}:
        missing = sorted(set(files) - {"checksums.sha256"} - set(listed)) or sorted(set(listed) - set(files))
        raise Rejected("checksum_mismatch", f"checksums.sha256 and the package disagree on which files exist "
                                            f"(e.g. {missing[0][:80]})")
    for name, digest in sorted(listed.items()):
        if sha256_file(files[name]) != digest:
            raise Rejected("checksum_mismatch", f"{name}: SHA-256 differs from checksums.sha256")
    entries = description.get("files")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise Rejected("layout", "SUBMISSION.json lists no files")
    described = {e.get("path"): e for e in entries}
    if set(described) != set(files) - set(CONTROL):
        raise Rejected("checksum_mismatch", "SUBMISSION.json and the package disagree on which files exist")
    for name, entry in described.items():
        if entry.get("sha256") != listed[name] or entry.get("bytes") != files[name].stat().st_size:
            raise Rejected("checksum_mismatch", f"{name}: size or SHA-256 differs from SUBMISSION.json")
    return description


def _report_is_clean(report: dict, metadata: dict, min_k: int) -> None:
    if metadata.get("anonymization_applied") is not True:
        raise Rejected("anonymization", "export_metadata says anonymization was not applied")
    k = report.get("k")
    if not isinstance(k, int) or isinstance(k, bool) or k < min_k:
        raise Rejected("anonymization", f"made with k-anonymity k={k!r}; this receiver requires k >= {min_k}")
    achieved = report.get("achieved_k")
    if achieved is not None and (not isinstance(achieved, int) or achieved < k):
        raise Rejected("anonymization", f"the report's achieved k ({achieved!r}) is below its k ({k})")
    if metadata.get("k_anonymity") not in (None, k):
        raise Rejected("anonymization", "export_metadata and the report disagree on k")


def read_table(path: Path, name: str) -> pd.DataFrame:
    """A submitted Parquet table, conformed to and validated against the anonymized schema."""
    schema = ANONYMIZED[name]
    try:
        columns = pq.read_schema(path).names
    except (OSError, pa.ArrowException) as exc:
        raise Rejected("tables", f"tables/{name}.parquet is not readable Parquet ({type(exc).__name__})")
    if columns != list(schema.columns):
        raise Rejected("tables", f"tables/{name}.parquet does not have the columns of the anonymized schema")
    try:
        df = conform(read_arrow_frame(path), schema)
        return schema.validate(df, lazy=True) if len(df) else df  # no rows: the columns are all there is
    except pandera.errors.SchemaErrors as exc:
        failed = sorted({f"{c}:{k}" for c, k in zip(exc.failure_cases["column"].astype(str),
                                                    exc.failure_cases["check"].astype(str))})
        raise Rejected("tables", f"tables/{name}.parquet fails its schema ({', '.join(failed[:3])})")
    except (ValueError, TypeError, pa.ArrowException) as exc:
        raise Rejected("tables", f"tables/{name}.parquet has values of the wrong type ({type(exc).__name__})")


def _migrated_tables(doc: dict) -> dict[str, pd.DataFrame]:
    caps = pd.DataFrame(doc["capability_metrics"]["capabilities"], columns=list(ANONYMIZED["capabilities"].columns))
    if len(caps):
        caps["last_improved"] = pd.to_datetime(caps["last_improved"], utc=True, errors="coerce")
    caps = ANONYMIZED["capabilities"].validate(conform(caps, ANONYMIZED["capabilities"]))
    return {"capabilities": caps}


def verify_export(export_dir: Path, *, min_k: int, accept_migrated: bool, leak_rescan: bool,
                  migration_key: bytes | None = None) -> Verified:
    """Check an unpacked export directory (control files already removed) and read its tables."""

    problems = verify_manifest(export_dir)
    if problems:
        raise Rejected("manifest_mismatch", f"{problems[0][:160]}"
                                            f"{f' (and {len(problems) - 1} more)' if len(problems) > 1 else ''}")
    documents = [export_dir / n for n in versions.DOCUMENT_NAMES if (export_dir / n).is_file()]
    doc = None
    if documents:
        try:
            doc = versions.read_json(documents[0])
            version = versions.declared_version(doc)
        except versions.SchemaVersionError as exc:
            raise Rejected("schema", str(exc))
        except (OSError, ValueError, EOFError):
            raise Rejected("schema", f"{documents[0].name} is not readable JSON")
    else:
        version = None
    errors = [i for i in versions.check_directory(export_dir) if i.severity == "error"]
    if errors:
        raise Rejected("schema", f"{errors[0]}"[:240] + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))

    if version == "1.0":
        if not accept_migrated:
            raise Rejected("schema", "schema 1.0 documents are not accepted by this receiver")
        if doc["export_metadata"].get("anonymization_applied") is not True:
            raise Rejected("anonymization", "the schema 1.0 export says anonymization was not applied")
        try:
            migrated = migration.migrate(doc, "1.1", key=migration_key)
        except (versions.ExportSchemaError, versions.SchemaVersionError) as exc:
            raise Rejected("schema", f"migration from 1.0 failed: {exc}"[:240])
        meta = migrated["export_metadata"]
        manifest = _load_json(export_dir / "manifest.json", "manifest.json")
        return Verified(project=meta["project_hash"], export_id=str(manifest.get("export_id") or export_dir.name),
                        export_created_at=meta["export_timestamp"], schema_version="1.1", tables=_migrated_tables(
                            migrated), metadata=meta, report=migrated["anonymization_report"], migrated_from="1.0",
                        warnings=list(migrated["anonymization_report"]["warnings"]))

    metadata = _load_json(export_dir / "export_metadata.json", "export_metadata.json")
    report_path = export_dir / "anonymization_report.json"
    if not report_path.is_file():
        raise Rejected("anonymization", "anonymization_report.json is missing")
    report = _load_json(report_path, "anonymization_report.json")
    if version is None:  # no JSON document: the parts were checked by check_directory only if present
        for obj, part in ((metadata, "export_metadata"), (report, "anonymization_report")):
            issues = versions.validate(obj, versions.LATEST, part)
            if issues:
                raise Rejected("schema", f"{part}: {issues[0]}"[:240])
    if metadata.get("schema_version") != versions.LATEST:
        raise Rejected("schema", f"export_metadata.schema_version {metadata.get('schema_version')!r} is not "
                                 f"{versions.LATEST}")
    if not PROJECT_PSEUDONYM.match(str(metadata.get("project_hash"))):
        raise Rejected("schema", "export_metadata.project_hash is not a project pseudonym")
    _report_is_clean(report, metadata, min_k)
    manifest = _load_json(export_dir / "manifest.json", "manifest.json")

    tables = {}
    for name in TABLE_NAMES:
        path = export_dir / "tables" / f"{name}.parquet"
        if not path.is_file():
            raise Rejected("tables", f"tables/{name}.parquet is missing (submissions must include Parquet tables)")
        tables[name] = read_table(path, name)
    if leak_rescan:

        findings = scan_export(export_dir)
        if findings:
            kinds = sorted({f"{f['file']}:{f['rule']}" for f in findings})
            raise Rejected("anonymization", f"rescan found values that look sensitive ({', '.join(kinds[:3])}"
                                            f"{f' and {len(kinds) - 3} more' if len(kinds) > 3 else ''})")
    return Verified(project=metadata["project_hash"], export_id=str(manifest.get("export_id") or export_dir.name),
                    export_created_at=str(manifest.get("created_at") or metadata["export_timestamp"]),
                    schema_version=str(version or metadata["schema_version"]), tables=tables, metadata=metadata,
                    report=report, warnings=list(report.get("warnings") or []))


def open_package(package: Path, work: Path, limits: Limits, *, require_signature: bool, **policy) -> Verified:
    """Unpack `package` into `work` (removed first) and verify it; raises Rejected.

    A signed package's project is its installation's fingerprint (the privacy unit), not the pseudonym
    it declares. An unsigned one keeps the declared pseudonym, which nothing ties to an installation (one
    project could pose as several), so with `require_signature` it is refused.
    """
    shutil.rmtree(work, ignore_errors=True)
    top = safe_extract(package, work / "unpacked", limits)
    description = verify_checksums(top)
    installation = None
    if "installation" not in description and require_signature:
        raise Rejected("unsigned", "the package is not signed, and this receiver pools only signed packages "
                                   "(`learning submit` signs them)")
    if "installation" in description:
        try:
            installation = identity.verify(description["installation"], description.get("export_id"),
                                           description["files"])
        except identity.BadSignature as exc:
            raise Rejected("signature", str(exc)) from None
    commitment = description.get("withdrawal_commitment")
    if commitment is not None and not (isinstance(commitment, str) and HEX64.match(commitment)):
        raise Rejected("layout", "SUBMISSION.json: withdrawal_commitment is not 64 hex digits")
    control = work / "control"
    control.mkdir()
    for name in CONTROL:
        (top / name).rename(control / name)
    verified = verify_export(top, **policy)
    verified.withdrawal_commitment = commitment
    if installation is not None:
        verified.project = installation
    return verified
