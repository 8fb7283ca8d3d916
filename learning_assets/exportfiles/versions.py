"""Versioned JSON Schema of the export document: validation with JSON paths, file checks, migration.

`export-1.0.schema.json` is the agent framework's own export (permissive inside its sections);
`export-1.1.schema.json` is ours (strict). A document declares its version in
`export_metadata.schema_version`; it is validated against exactly that version, and a version this
module does not know fails with a clear message. `migrate()` turns a 1.0 document into a valid 1.1 one.
A whole document is first checked by jsonschema-rs; `jsonschema` validates it again only to describe errors.
"""

from __future__ import annotations

import functools
import gzip
import json
import re
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

from learning_assets.errors import UserError, os_words
from learning_assets.exportfiles.manifest import (
    PACKAGE_FILES,
    SUBMISSION,
    SUBMISSION_FORMAT,
    verify_manifest,
)
from learning_assets.jsontext import json_error
from schemas import (
    LATEST,
    SCHEMA_FILES,
    SchemaVersionError,
    known_versions,
    load_schema,
)

DOCUMENT_NAMES = ("learning_export.json", "learning_export.json.gz")
MAX_ISSUES = 200

FORMATS = FormatChecker()
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$")


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    """RFC 3339 date-time with an offset (the `jsonschema` default needs an extra package)."""
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return True


class ExportSchemaError(UserError, ValueError):
    """A document does not match its declared schema; `issues` lists every error with its JSON path."""

    def __init__(self, message: str, issues: list[Issue]):
        super().__init__(message)
        self.issues = issues


@dataclass(frozen=True)
class Issue:
    """One finding: where (file, JSON path), what, and whether it blocks (error) or not (warning)."""

    path: str
    message: str
    severity: str = "error"
    file: str = ""

    def __str__(self) -> str:
        where = f"{self.file} " if self.file else ""
        return f"{where}{self.path}: {self.message}"


# --- schemas and validators ---------------------------------------------------------------------


def _inline_refs(node: Any, defs: dict, seen: tuple[str, ...] = ()) -> Any:
    """`node` with each bare `{"$ref": "#/$defs/..."}` replaced by the (inlined) definition itself.

    The same schema, minus a registry lookup per reference and value: `jsonschema` resolves `$ref`
    again for every instance, which doubles the time to validate a document. A reference with sibling
    keywords stays a reference (jsonschema then collects the properties it evaluates for
    `unevaluatedProperties` without validating it twice, as it would for `allOf`).
    """
    if isinstance(node, list):
        return [_inline_refs(v, defs, seen) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _inline_refs(v, defs, seen) for k, v in node.items()}
    ref = out.get("$ref")
    if ref is None or len(out) > 1:
        return out
    name = ref.removeprefix("#/$defs/")
    if name not in defs or name in seen:  # the schemas have neither: fail loudly rather than validate less
        raise SchemaVersionError(f"cannot inline $ref {ref!r}")
    return _inline_refs(defs[name], defs, (*seen, name))


@functools.lru_cache(maxsize=None)
def validator(version: str, definition: str | None = None) -> Draft202012Validator:
    """A validator for the whole document of `version`, or for one of its `$defs` (e.g. `manifest`)."""
    root = load_schema(version)
    root = _inline_refs(root, root.get("$defs", {}))
    if definition is None:
        return Draft202012Validator(root, format_checker=FORMATS)
    if definition not in root.get("$defs", {}):
        raise SchemaVersionError(f"schema {version} does not describe {definition.replace('_', ' ')}")
    registry = Registry().with_resource(root["$id"], Resource.from_contents(root))
    return Draft202012Validator({"$ref": f"{root['$id']}#/$defs/{definition}"}, registry=registry,
                                format_checker=FORMATS)


@functools.lru_cache(maxsize=None)
def _fast_validator(version: str) -> jsonschema_rs.Draft202012Validator:
    """The whole document's schema of `version` compiled by jsonschema-rs, with the formats checked by the
    same functions as `validator`'s."""
    formats = {name: functools.partial(_conforms, name) for name in FORMATS.checkers}
    return jsonschema_rs.Draft202012Validator(load_schema(version), formats=formats, validate_formats=True)


def _conforms(name: str, value: Any) -> bool:
    return FORMATS.conforms(value, name)


def _valid_document(doc: Any, version: str) -> bool:
    """Whether a document matches the schema of `version`, decided by jsonschema-rs (compiled, in Rust);
    False also when it cannot take a value (a lone surrogate in a string), so that `jsonschema` decides.

    A document that fails is validated again by `jsonschema` for its errors (messages, JSON paths), so the
    verdict stays `jsonschema`'s wherever jsonschema-rs is the stricter (a pattern's `$` does not match
    before a final newline). On parsed JSON it is never the more lenient: formats are checked by the same
    functions, and the rest is the same 2020-12 keywords.
    """
    try:
        return _fast_validator(version).is_valid(doc)
    except ValueError:
        return False


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")


def _describe(error: ValidationError) -> str:
    """The error message without the offending value when it is text or a container (it may be sensitive)."""
    if error.context:
        deepest = best_match(error.context)
        if deepest is not None:
            error = deepest
    message = error.message
    instance = error.instance
    if not isinstance(instance, (int, float, bool, type(None))):
        shown = f"<{_json_type(instance)} of {len(instance)} chars>" if isinstance(instance, str) else \
            f"<{_json_type(instance)}>"
        message = message.replace(repr(instance), shown)
        if len(message) > 300:
            message = f"{shown} fails '{error.validator}'"
    return message


def _issues(errors, file: str = "") -> list[Issue]:
    out = [Issue(e.json_path, _describe(e), "error", file) for e in errors]
    return sorted(set(out), key=lambda i: (i.path, i.message))


def declared_version(doc: Any) -> str:
    """`export_metadata.schema_version` of a document; a clear error when there is none."""
    if not isinstance(doc, dict):
        raise SchemaVersionError(f"not an export document: top level is a JSON {_json_type(doc)}, not an object")
    meta = doc.get("export_metadata")
    if not isinstance(meta, dict):
        raise SchemaVersionError("not an export document: no export_metadata object")
    return schema_version(meta.get("schema_version"), "export_metadata.schema_version")


def schema_version(value: Any, where: str) -> str:
    """A declared schema version (`where` names the field), or SchemaVersionError saying what is wrong."""
    if value is None or value == "":
        raise SchemaVersionError(f"{where} is missing: cannot tell which schema applies")
    if not isinstance(value, str):
        shown = f" ({json.dumps(value)})" if isinstance(value, (int, float, bool)) else ""
        raise SchemaVersionError(f"{where} is a JSON {_json_type(value)}{shown}, not text: write the version in "
                                 f"quotes, e.g. \"{LATEST}\"")
    if value not in SCHEMA_FILES:
        raise SchemaVersionError(f"unknown schema version {value!r} in {where}; "
                                 f"this exporter knows {', '.join(known_versions())}")
    return value


def validate(doc: Any, version: str | None = None, definition: str | None = None, file: str = "") -> list[Issue]:
    """Schema errors of a document (or of one `$defs` part), each with its JSON path; empty when valid."""
    version = version or declared_version(doc)
    if definition is None and _valid_document(doc, version):
        return []
    return _issues(validator(version, definition).iter_errors(doc), file)


def ensure_valid(doc: dict) -> str:
    """Raise ExportSchemaError (one line naming the first errors) unless `doc` matches its declared version."""
    version = declared_version(doc)
    issues = validate(doc, version)
    if issues:
        shown = "; ".join(str(i) for i in issues[:3])
        more = f" (and {len(issues) - 3} more)" if len(issues) > 3 else ""
        raise ExportSchemaError(f"export document does not match schema {version}: {shown}{more}", issues)
    return version


# --- semantic checks (beyond JSON Schema) --------------------------------------------------------

SECTIONS = ("capability_metrics", "pattern_statistics", "learning_effectiveness", "analytics_data")


def _warnings_1_0(doc: dict) -> list[Issue]:
    out = [Issue("$.export_metadata.schema_version",
                 "schema 1.0 is the framework's own export, whose anonymization is not verified "
                 "(guessable hashes, unscanned free text); `learning migrate` converts it to 1.1", "warning")]
    if doc["export_metadata"].get("anonymization_applied") is False:
        out.append(Issue("$.export_metadata.anonymization_applied",
                         "the exporter says anonymization was not applied", "warning"))
    for section in SECTIONS:
        value = doc.get(section)
        if value is None:
            out.append(Issue(f"$.{section}", "section missing", "warning"))
        elif isinstance(value, dict) and set(value) == {"error"}:
            out.append(Issue(f"$.{section}", "section holds only an error from the exporter: its data is missing",
                             "warning"))
    return out


def _semantics_1_1(doc: dict) -> list[Issue]:
    out = []
    caps = doc["capability_metrics"]
    if caps["total_capabilities"] != len(caps["capabilities"]):
        out.append(Issue("$.capability_metrics.total_capabilities",
                         f"{caps['total_capabilities']} but {len(caps['capabilities'])} capabilities listed"))
    pats = doc["pattern_statistics"]
    if sum(pats["patterns_by_type"].values()) != pats["total_patterns"]:
        out.append(Issue("$.pattern_statistics.patterns_by_type",
                         f"counts add up to {sum(pats['patterns_by_type'].values())}, "
                         f"not total_patterns {pats['total_patterns']}"))
    if pats["anti_patterns"] > pats["total_patterns"]:
        out.append(Issue("$.pattern_statistics.anti_patterns", "more anti-patterns than patterns"))
    refs = doc["learning_effectiveness"]
    by_type = sum(v["count"] for v in refs["refinements_by_type"].values())
    if refs["refinements_by_type"] and by_type != refs["total_refinements"]:
        out.append(Issue("$.learning_effectiveness.refinements_by_type",
                         f"counts add up to {by_type}, not total_refinements {refs['total_refinements']}"))
    analytics = doc["analytics_data"]
    for key, per_day in (("agent_executions", "agents_per_day"), ("workflow_executions", "workflows_per_day")):
        listed = sum(r["executions"] for r in analytics[per_day])
        if analytics[per_day] and listed != analytics[key]:
            out.append(Issue(f"$.analytics_data.{per_day}", f"executions add up to {listed}, not {key} "
                                                           f"{analytics[key]}"))
    report = doc["anonymization_report"]
    for i, warning in enumerate(report["warnings"][:20]):
        out.append(Issue(f"$.anonymization_report.warnings[{i}]", f"export made with a warning: {warning}",
                         "warning"))
    if "migrated_from" in doc["export_metadata"]:
        out.append(Issue("$.export_metadata.migrated_from",
                         f"migrated from schema {doc['export_metadata']['migrated_from']['schema_version']}: "
                         "k-anonymity was not applied and free text was dropped", "warning"))
    return out


def check_document(doc: Any, file: str = "") -> list[Issue]:
    """Every error and warning for one export document: schema errors first, then consistency checks."""
    try:
        version = declared_version(doc)
    except SchemaVersionError as exc:
        meta = doc.get("export_metadata") if isinstance(doc, dict) else None
        where = ("$" if not isinstance(doc, dict) else "$.export_metadata" if not isinstance(meta, dict)
                 else "$.export_metadata.schema_version")
        return [Issue(where, str(exc), "error", file)]
    issues = validate(doc, version, file=file)
    if issues:
        return issues
    extra = _warnings_1_0(doc) if version == "1.0" else _semantics_1_1(doc)
    return [Issue(i.path, i.message, i.severity, file) for i in extra]


# --- files and directories -----------------------------------------------------------------------


class ExportFileError(UserError, ValueError):
    """An export file that cannot be read as JSON; `reason` says why, the message names the file too."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.reason = reason


def _read_text(path: Path) -> bytes:
    """The file's bytes, decompressed when it is `.gz`."""
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if path.name.endswith(".gz") else raw
    except OSError as exc:
        if exc.errno is not None:
            raise ExportFileError(path, f"cannot read it ({os_words(exc)})") from None
        raise ExportFileError(path, f"not a readable gzip file ({exc})") from None
    except (EOFError, zlib.error) as exc:
        raise ExportFileError(path, f"not a readable gzip file ({exc})") from None


def _parse(text: bytes, path: Path) -> Any:
    """JSON text (UTF-8, or UTF-16/32 as JSON allows) as Python values."""
    try:
        return json.loads(text)
    except UnicodeDecodeError as exc:
        raise ExportFileError(path, f"not valid UTF-8 text (byte {exc.start})") from None
    except (ValueError, RecursionError) as exc:
        raise ExportFileError(path, f"not valid JSON: {json_error(exc, where=True)}") from None


def read_json(path: Path) -> Any:
    """An export's JSON file; ExportFileError (a ValueError) naming the file and the problem."""
    return _parse(_read_text(path), path)


# What each file of an export (or of a submission package) is, by its name.
FILE_KINDS = {"learning_export.json": "document", "learning_export.json.gz": "document",
              "export_metadata.json": "export_metadata", "manifest.json": "manifest",
              "anonymization_report.json": "anonymization_report", SUBMISSION: "submission"}
KIND_WORDS = {"document": "an export document", "export_metadata": "export metadata", "manifest": "a manifest",
              "anonymization_report": "an anonymization report",
              "submission": "the description of a submission package"}
_ARCHIVES = (".tar.gz", ".tgz", ".tar")


def _kind(obj: Any, name: str) -> str:
    """What an export file is: by its name when it has one of the export's, else by its content."""
    if name in FILE_KINDS:
        return FILE_KINDS[name]
    if isinstance(obj, dict):
        if "export_metadata" in obj:
            return "document"
        if obj.get("format") == SUBMISSION_FORMAT:
            return "submission"
        if {"export_id", "files"} <= set(obj):
            return "manifest"
        if {"k", "rules", "tables"} <= set(obj):
            return "anonymization_report"
        if {"schema_version", "export_timestamp"} <= set(obj):
            return "export_metadata"
    return "unknown"


def _check_part(obj: Any, kind: str, file: str, version: str | None = None) -> tuple[list[Issue], str | None]:
    """Validate a metadata file, a report, a manifest or a package description against its `$defs` in the
    right version."""
    if not isinstance(obj, dict):
        return [Issue("$", f"expected a JSON object ({KIND_WORDS[kind]}), found a JSON {_json_type(obj)}",
                      "error", file)], None
    if version is None and kind != "anonymization_report" and obj.get("schema_version") is not None:
        try:
            version = schema_version(obj["schema_version"], "schema_version")
        except SchemaVersionError as exc:
            return [Issue("$.schema_version", str(exc), "error", file)], None
    version = version or LATEST
    try:
        return validate(obj, version, kind, file), version
    except SchemaVersionError as exc:  # e.g. 1.0 has no manifest
        return [Issue("$", str(exc), "warning", file)], version


def check_file(path: Path) -> list[Issue]:
    """Check one JSON file of an export (document, export_metadata.json, manifest or report) or a submission
    package's SUBMISSION.json."""
    name = path.name
    if name.endswith(_ARCHIVES):
        return [Issue("$", "a tar archive, such as a submission package: unpack it (tar xzf) and validate the "
                           "directory it holds", "error", name)]
    try:
        text = _read_text(path)
        obj = _parse(text, path)
    except ExportFileError as exc:
        return [Issue("$", exc.reason, "error", name)]
    kind = _kind(obj, name)
    if kind == "unknown":
        return [Issue("$", "not an export file: neither a document (export_metadata), export metadata, "
                           "a manifest, an anonymization report nor a submission package's SUBMISSION.json",
                      "error", name)]
    try:
        if kind == "document":
            return check_document(obj, name)
        return _check_part(obj, kind, name)[0]
    except RecursionError:  # parsed, but too deep for the schema validator (or its messages)
        return [Issue("$", "nested too deeply to check against the schema", "error", name)]


def check_directory(directory: Path) -> list[Issue]:
    """Check an export directory: the document, its metadata and report files, and the manifest. In an
    unpacked submission package also its SUBMISSION.json; its checksums are `insights.package`'s to verify."""

    issues: list[Issue] = []
    package = (directory / SUBMISSION).is_file()
    docs = [directory / n for n in DOCUMENT_NAMES if (directory / n).is_file()]
    doc, version = None, None
    for path in docs:
        issues += check_file(path)
        try:
            doc = read_json(path)
            version = declared_version(doc)
        except ValueError:
            pass
    doc = doc if isinstance(doc, dict) else None
    meta_path = directory / "export_metadata.json"
    if meta_path.is_file():
        issues += check_file(meta_path)
        try:
            if doc is not None and read_json(meta_path) != doc.get("export_metadata"):
                issues.append(Issue("$", "differs from the document's export_metadata", "error", meta_path.name))
        except ValueError:
            pass
    report_path = directory / "anonymization_report.json"
    if report_path.is_file():
        issues += check_file(report_path)
        try:
            if doc is not None and "anonymization_report" in doc and read_json(report_path) != doc[
                    "anonymization_report"]:
                issues.append(Issue("$", "differs from the document's anonymization_report", "error",
                                    report_path.name))
        except ValueError:
            pass
    manifest_path = directory / "manifest.json"
    if manifest_path.is_file():
        issues += check_file(manifest_path)
        issues += [Issue("$", problem, "error", "manifest.json")
                   for problem in verify_manifest(directory, besides=PACKAGE_FILES if package else ())]
    elif version != "1.0":
        issues.append(Issue("$", "no manifest.json: file integrity cannot be verified", "warning",
                            directory.name))
    if package:
        issues += check_file(directory / SUBMISSION)
    if not docs and not meta_path.is_file():
        issues.append(Issue("$", "no learning_export.json[.gz] or export_metadata.json: not an export directory",
                            "error", directory.name))
    return issues


def check_path(path: Path) -> list[Issue]:
    """Check a file or an export directory; errors and warnings, each with its file and JSON path."""
    path = Path(path)
    if path.is_dir():
        return check_directory(path)
    if path.is_file():
        return check_file(path)
    return [Issue("$", "no such file or directory", "error", str(path))]
