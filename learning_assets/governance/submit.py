"""Submission packages: a published export as one tar.gz for manual upload.

`<export dir>/submissions/learning-submission-<export id>.tar.gz` holds one directory with the
export's files (tables, JSON document, metadata, anonymization report, manifest), a `checksums.sha256`
(`sha256sum -c` format) and `SUBMISSION.json` describing the package, with the commitment that lets
this installation withdraw it later (`learning_assets.governance.withdrawal`). Archive headers carry
no user, group or local time: owners are 0/root-less, times are the export's creation time, the gzip
header has no name and no time, so the package reveals nothing the export does not.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from learning_assets import __version__
from learning_assets.errors import UserError
from learning_assets.exportfiles.atomic import write_atomic
from learning_assets.exportfiles.manifest import verify_manifest
from learning_assets.governance.identity import sign
from learning_assets.governance.withdrawal import submission_commitment

SUBMISSIONS = "submissions"
PREFIX = "learning-submission-"
SUFFIX = ".tar.gz"
FIRST = ("export_metadata.json", "anonymization_report.json", "manifest.json")


class SubmitError(UserError, RuntimeError):
    pass


@dataclass
class Package:
    path: Path
    export_id: str
    sha256: str
    bytes: int
    members: list[dict] = field(default_factory=list)
    project: str | None = None


def package_name(export_id: str) -> str:
    return f"{PREFIX}{export_id}{SUFFIX}"


def submissions_dir(export_root: Path) -> Path:
    return Path(export_root) / SUBMISSIONS


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _epoch(created_at: str | None) -> int:
    try:
        return int(datetime.fromisoformat(str(created_at)).timestamp())
    except (TypeError, ValueError):
        return 0


def _tarinfo(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


@dataclass
class Summary:
    """What a package of an export would hold, shown before it is built."""

    export_id: str
    tables: list[dict]  # path, rows, bytes
    files: int
    bytes: int
    rows: int
    generalized: dict[str, int]  # what the anonymization did, per rule (non-zero)


def summarize(export_dir: Path) -> Summary:
    """The tables, rows, bytes and what was generalized, from the export's manifest and anonymization report."""
    export_dir = Path(export_dir)
    try:
        manifest = json.loads((export_dir / "manifest.json").read_bytes())
        files = [f for f in manifest["files"] if isinstance(f, dict)]
    except (OSError, ValueError, RecursionError, KeyError, TypeError):
        raise SubmitError(f"{export_dir}: manifest.json is missing or unreadable; not packaged") from None
    try:
        report = json.loads((export_dir / "anonymization_report.json").read_bytes())
        rules = report.get("rules", {}) if isinstance(report, dict) else {}
    except (OSError, ValueError, RecursionError):
        rules = {}
    generalized = {}
    for name, value in rules.items():
        if isinstance(value, dict):
            generalized.update({f"{name}: {k}": v for k, v in value.items() if isinstance(v, int) and v})
        elif isinstance(value, int) and value:
            generalized[name] = value
    tables = [{"path": f.get("path"), "rows": f.get("rows"), "bytes": f.get("bytes")} for f in files
              if str(f.get("path", "")).startswith("tables/") or "rows" in f]
    return Summary(export_id=manifest.get("export_id") or export_dir.name, tables=tables, files=len(files) + 1,
                   bytes=sum(int(f.get("bytes") or 0) for f in files), rows=sum(int(t["rows"] or 0) for t in tables),
                   generalized=generalized)


def build_package(export_dir: Path, export_root: Path, home: Path,
                  identity: Ed25519PrivateKey | None = None) -> Package:
    """Verify a published export against its manifest and write its submission package, signed by `identity`.

    `home` is the instance's learning directory, where the withdrawal key is kept.
    """

    export_dir = Path(export_dir)
    problems = verify_manifest(export_dir)
    if problems:
        raise SubmitError(f"{export_dir}: export does not match its manifest ({problems[0]}"
                          f"{f' and {len(problems) - 1} more' if len(problems) > 1 else ''}); not packaged")
    manifest = json.loads((export_dir / "manifest.json").read_text())
    metadata = json.loads((export_dir / "export_metadata.json").read_text())
    export_id = manifest.get("export_id") or export_dir.name
    project = metadata.get("project_hash")
    mtime = _epoch(manifest.get("created_at"))

    names = [f["path"] for f in manifest["files"]] + ["manifest.json"]
    names = [n for n in FIRST if n in names] + sorted(n for n in names if n not in FIRST)
    contents = {name: (export_dir / name).read_bytes() for name in names}
    by_path = {f["path"]: f for f in manifest["files"]}
    members = [{"path": n, "bytes": len(b), "sha256": _sha256(b),
                **({"rows": by_path[n]["rows"]} if "rows" in by_path.get(n, {}) else {})}
               for n, b in contents.items()]
    signed = sign(identity, export_id, members) if identity is not None else None
    # the receiver pools a signed package under its installation's fingerprint: the commitment binds that unit
    unit = signed["fingerprint"] if signed else project
    description = {
        "format": "learning-export-submission", "format_version": 1,
        "export_id": export_id, "schema_version": manifest.get("schema_version"),
        "export_created_at": manifest.get("created_at"), "project": project,
        # an unsigned framework (1.0) export names no unit: the receiver pseudonymizes it, so no commitment
        **({"withdrawal_commitment": submission_commitment(home, unit, export_id)} if unit else {}),
        "packaged_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "packaged_by": f"learning-export {__version__}",
        "anonymization_applied": metadata.get("anonymization_applied"),
        "files": members,
        "verify": "sha256sum -c checksums.sha256 (inside the unpacked directory)",
    }
    if signed is not None:
        description["installation"] = signed
    contents = {"SUBMISSION.json": json.dumps(description, indent=1).encode(), **contents}
    contents["checksums.sha256"] = "".join(f"{_sha256(b)}  {n}\n" for n, b in contents.items()).encode()
    order = ["SUBMISSION.json", *[n for n in contents if n in FIRST], "checksums.sha256",
             *[n for n in contents if n not in FIRST and n not in ("SUBMISSION.json", "checksums.sha256")]]

    out_dir = submissions_dir(export_root)
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / package_name(export_id)
    top = final.name[: -len(SUFFIX)]
    archive = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=archive, mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            dir_info = _tarinfo(top, 0, mtime)
            dir_info.type, dir_info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(dir_info)
            for name in order:
                body = contents[name]
                tar.addfile(_tarinfo(f"{top}/{name}", len(body), mtime), io.BytesIO(body))
    data = archive.getvalue()
    write_atomic(final, data, before_replace=lambda written: _verify(written, top, contents))
    listed = [{"path": f"{top}/{n}", "bytes": len(contents[n]), "sha256": _sha256(contents[n]),
               **({"rows": by_path[n]["rows"]} if "rows" in by_path.get(n, {}) else {})} for n in order]
    return Package(path=final, export_id=export_id, sha256=_sha256(data), bytes=len(data), members=listed,
                   project=project)


def _verify(path: Path, top: str, contents: dict[str, bytes]) -> None:
    """Read the archive back from disk: every member present with the expected bytes."""
    with tarfile.open(path, "r:gz") as tar:
        seen = {}
        for member in tar.getmembers():
            if member.isfile():
                seen[member.name] = _sha256(tar.extractfile(member).read())
    expected = {f"{top}/{n}": _sha256(b) for n, b in contents.items()}
    if seen != expected:
        raise SubmitError(f"{path}: package does not read back as written")


def packages(export_root: Path, export_ids: set[str] | None = None) -> list[Path]:
    """Submission packages under an export directory, optionally only those of some exports."""
    d = submissions_dir(export_root)
    if not d.is_dir():
        return []
    found = []
    for p in sorted(d.glob(f"{PREFIX}*{SUFFIX}")):
        export_id = p.name[len(PREFIX): -len(SUFFIX)]
        if export_ids is None or export_id in export_ids:
            found.append(p)
    return found
