"""Incremental exports: one file set per UTC day for the time-based tables, dated snapshots for the rest.

Plain functions only; the Dagster assets (`defs/incremental/`), sensor and CLI are thin wrappers.
They reuse the full export's readers, `anonymize_table`, `Scrubber`, `write_table`, `sha256_file`,
`verify_manifest`, `scan_export` and the export store's atomic helpers.

Layout under the export directory (every path in the index is relative to it):

    daily/<table>/<YYYY-MM-DD>.parquet     agent/workflow executions, task memories, code outcomes
    daily/manifests/<YYYY-MM-DD>.json      that day's files with SHA-256, bytes and rows
    snapshots/<YYYY-MM-DD>/                capabilities, capability refinements, patterns,
                                           changes.json (what changed since the previous snapshot),
                                           manifest.json
    daily/index.json                       every published day and snapshot with checksums

Each file is written into place atomically (`write_atomic`); a day (or snapshot) is recorded in the
index only after all its files are in place, and the index itself is replaced atomically.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from learning_assets.exportfiles.atomic import write_atomic
from learning_assets.exportfiles.document import SCHEMA_VERSION
from learning_assets.exportfiles.manifest import sha256_file
from learning_assets.exportfiles.parquet import write_table
from learning_assets.privacy.anonymize import Anonymizer
from learning_assets.privacy.scrub import Vocabulary
from learning_assets.sources.readers import DAY_FILE, SourceRead, find, near_days
from learning_assets.tables import DAILY, SNAPSHOT, SPECS, anonymize_table, read_tables

try:  # POSIX advisory locks; elsewhere the index update is still atomic, just not serialized
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

DAY_TABLES: tuple[str, ...] = DAILY
SNAPSHOT_TABLES: tuple[str, ...] = SNAPSHOT
# Row identity in a snapshot, for marking what changed since the previous one.
SNAPSHOT_KEYS: dict[str, tuple[str, ...]] = {t: SPECS[t].incremental.key for t in SNAPSHOT}
# Files the snapshot tables come from; their names also feed the cumulative vocabulary.
SNAPSHOT_SOURCES: tuple[str, ...] = tuple(dict.fromkeys(s for t in SNAPSHOT for s in SPECS[t].sources))
# Daily tables written as one file per (local) day, and those whose files hold records of many days
# (rewritten or appended by the framework).
DAY_FILE_TABLES = tuple(t for t in DAILY if SPECS[t].incremental.day_files is not None)
DATED_FILES = {SPECS[t].sources[0]: t for t in DAILY if SPECS[t].incremental.day_files is None}
DAILY_DIR = "daily"
SNAPSHOTS_DIR = "snapshots"
MANIFESTS_DIR = "manifests"
INDEX_NAME = "index.json"
INDEX_FORMAT = "learning-export-index/1"
LOCK_NAME = ".index.lock"
DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# --- days ---------------------------------------------------------------------------------------

def parse_day(value: str, what: str = "date") -> date:
    if not isinstance(value, str) or not DAY_RE.match(value):
        raise ValueError(f"{what} {value!r}: expected YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{what} {value!r}: not a calendar date") from None


def day_range(start: str, end: str) -> list[str]:
    """Every day from `start` to `end`, inclusive."""
    a, b = parse_day(start, "start"), parse_day(end, "end")
    if a > b:
        raise ValueError(f"start {start} is after end {end}")
    return [(a + timedelta(days=i)).isoformat() for i in range((b - a).days + 1)]


def day_of(ts: datetime | None) -> str | None:
    """The UTC day of a parsed (aware, UTC) timestamp."""
    return None if ts is None else ts.astimezone(timezone.utc).date().isoformat()


# --- reading one or more days -------------------------------------------------------------------

@dataclass
class DayReads:
    """Raw rows of the requested days, per table, plus an account of what could not be placed."""

    tables: dict[str, SourceRead]  # the reads, for their files and skips
    undated: dict[str, int]
    frames: dict[str, pd.DataFrame] = field(repr=False)  # the requested days' rows

    def by_day(self, days: Sequence[str]) -> dict[str, dict[str, pd.DataFrame]]:
        """{day: {table: raw frame of that day}} (empty frames for days without rows)."""
        out: dict[str, dict[str, pd.DataFrame]] = {d: {} for d in days}
        for table, frame in self.frames.items():
            stamps = frame[SPECS[table].event_time]
            groups = {str(d.date()): g for d, g in frame.groupby(stamps.dt.floor("D"), sort=False)}
            for d in days:
                out[d][table] = groups[d].reset_index(drop=True) if d in groups else frame.iloc[0:0]
        return out


def read_days(root: Path, tz: tzinfo, days: Iterable[str]) -> DayReads:
    """Raw rows whose event time (UTC) falls on one of `days`.

    A source written as one file per day (analytics history) is named by the writer's (local) date, which
    can differ from a record's UTC day by at most one: the requested days' files and their two neighbours
    are read, so the cost is proportional to the days requested. A source holding every day in one file
    (memories, outcomes) is read whole (the framework rewrites or appends it whole, so there is nothing
    smaller to read), but only the requested days' records are parsed.
    """
    wanted = sorted(set(days))
    reads = {table: SPECS[table].read_days(root, tz, wanted) for table in DAY_TABLES}
    undated, frames = {}, {}
    wanted_days = [pd.Timestamp(day, tz="UTC") for day in wanted]
    for table, read in reads.items():
        frame = read.frame()
        stamps = frame[SPECS[table].event_time]
        if n := int(stamps.isna().sum()):
            undated[table] = n
        frames[table] = frame[stamps.dt.floor("D").isin(wanted_days)].reset_index(drop=True)
    return DayReads(reads, undated, frames)


def read_snapshot_tables(root: Path, tz: tzinfo) -> dict[str, SourceRead]:
    return read_tables(root, tz, list(SNAPSHOT_TABLES))


# --- anonymization --------------------------------------------------------------------------------

def anonymize_tables(raw: dict[str, pd.DataFrame], pseudonymize, scrubber, *,
                     day: str | None = None) -> tuple[dict[str, pd.DataFrame], dict[str, dict]]:
    """Anonymize each table (one fresh `Anonymizer` per table so stats stay per table; the pseudonymizer
    and the scrubber's memo are shared). With `day`, every row is checked to belong to that day."""
    out, info = {}, {}
    for table, frame in raw.items():
        anon = Anonymizer(pseudonymize, scrubber)
        df = anonymize_table(table, frame, anon)
        if day is not None and not df.empty:
            days = set(df[SPECS[table].event_time].dt.strftime("%Y-%m-%d"))
            if days != {day}:
                raise RuntimeError(f"{table}: rows of {sorted(days - {day})} in the partition of {day}")
        out[table] = df
        info[table] = {"rows_in": int(len(frame)), "rows": int(len(df)),
                       "stats": dict(sorted(anon.stats.items()))}
    return out, info


# --- the cumulative vocabulary (instance home, never exported) -------------------------------------

@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on `path` (created if missing) for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        if fcntl is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class VocabularyStore:
    """User, host and project names learned so far, as a 0600 JSON file in the instance home.

    A daily partition cannot relearn names from the whole history cheaply, so every run adds what it
    learned (from the snapshot sources and from the days it processed) and scrubs with the union.
    The file also records the (size, mtime) of the snapshot sources it has learned from.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.added = 0  # names the last merge added

    @classmethod
    def for_instance(cls, instance_root: str | os.PathLike) -> VocabularyStore:
        return cls(Path(instance_root) / "learning" / "vocabulary.json")

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}

    def load(self) -> Vocabulary:
        return Vocabulary.from_dict(self._read())

    def sources(self) -> dict:
        return self._read().get("sources") or {}

    def merge(self, learned: Vocabulary, sources: dict | None = None) -> Vocabulary:
        """Add `learned` (and record `sources` fingerprints); return the union."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with locked(self.path.with_name(self.path.name + ".lock")):
            data = self._read()
            vocab = Vocabulary.from_dict(data)
            before = vocab.as_dict()
            vocab.users |= learned.users
            vocab.hosts |= learned.hosts
            vocab.projects |= learned.projects
            self.added = sum(len(v) for v in vocab.as_dict().values()) - sum(len(v) for v in before.values())
            recorded = {**(data.get("sources") or {}), **(sources or {})}
            if vocab.as_dict() != before or recorded != (data.get("sources") or {}) or not self.path.exists():
                body = json.dumps({**vocab.as_dict(), "sources": recorded}, indent=1, sort_keys=True).encode()
                write_atomic(self.path, body, mode=0o600)
            return vocab


def fingerprint(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def snapshot_source_fingerprints(root: Path) -> dict[str, list[int]]:
    out = {}
    for rel in SNAPSHOT_SOURCES:
        path = find(root, rel)
        if path is not None:
            out[path.relative_to(root).as_posix()] = fingerprint(path)
    return out


def learn_snapshot_vocabulary(store: VocabularyStore, root: Path, tz: tzinfo, learn) -> bool:
    """Make sure the names in the snapshot sources are in the store; reads them only when they changed
    since last learned. `learn(root, frames)` is the vocabulary learner. Returns whether it read them."""
    current = snapshot_source_fingerprints(root)
    if all(store.sources().get(rel) == fp for rel, fp in current.items()):
        return False
    frames = [r.frame() for r in read_snapshot_tables(root, tz).values()]
    store.merge(learn(root, frames), sources=current)
    return True


# --- staging ------------------------------------------------------------------------------------

def _manifest_bytes(manifest: dict) -> bytes:
    return json.dumps(manifest, indent=1, sort_keys=True).encode()


def _write_tables(directory: Path, tables: dict[str, pd.DataFrame]) -> list[dict]:
    files = []
    for table, df in tables.items():
        path = directory / f"{table}.parquet"
        write_table(df, path)
        files.append({"path": path.name, "table": table, "rows": int(len(df)), "sha256": sha256_file(path),
                      "bytes": path.stat().st_size})
    return files


def _summary(info: dict[str, dict]) -> dict:
    return {t: {k: i[k] for k in ("rows_in", "rows")} for t, i in info.items()}


def write_day(directory: Path, day: str, tables: dict[str, pd.DataFrame], info: dict[str, dict], k: int) -> dict:
    """Write one day's tables and its manifest into `directory` (inside staging). Deterministic: the
    same rows give the same bytes, so an unchanged day can be recognised by its checksums."""
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {"kind": "daily", "day": day, "schema_version": SCHEMA_VERSION, "k": k,
                "files": _write_tables(directory, {t: tables[t] for t in DAY_TABLES}),
                "anonymization": _summary(info)}
    (directory / "manifest.json").write_bytes(_manifest_bytes(manifest))
    return manifest


def row_digests(path: Path, key: Sequence[str]) -> dict[str, str]:
    """{row key: SHA-256 of the row's content} for a Parquet table."""
    out = {}
    for row in pq.read_table(path).to_pylist():
        ident = ":".join(str(row[c]) for c in key)
        out[ident] = hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()
    return out


def content_hash(digests: dict[str, str]) -> str:
    """Order-independent hash of a table's rows."""
    return hashlib.sha256("\n".join(sorted(f"{k}={v}" for k, v in digests.items())).encode()).hexdigest()


def diff_rows(new: dict[str, str], old: dict[str, str] | None) -> dict:
    old = old or {}
    return {"added": sorted(new.keys() - old.keys()),
            "changed": sorted(k for k in new.keys() & old.keys() if new[k] != old[k]),
            "removed": sorted(old.keys() - new.keys()),
            "unchanged": sum(1 for k in new.keys() & old.keys() if new[k] == old[k])}


def previous_snapshot(index: dict, as_of: str) -> tuple[str, dict] | None:
    """The newest snapshot published for a date before `as_of` (the watermark changes are marked from)."""
    earlier = sorted(d for d in index.get("snapshots", {}) if d < as_of)
    return (earlier[-1], index["snapshots"][earlier[-1]]) if earlier else None


def write_snapshot(directory: Path, as_of: str, tables: dict[str, pd.DataFrame], info: dict[str, dict], k: int,
                   export_root: Path) -> dict:
    """Write a dated snapshot into `directory` (inside staging): the tables, `changes.json` marking the
    rows added, changed and removed since the previous snapshot, and the manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    files = _write_tables(directory, {t: tables[t] for t in SNAPSHOT_TABLES})
    prev = previous_snapshot(load_index(export_root), as_of)
    prev_files = {f["table"]: f for f in prev[1]["files"] if "table" in f} if prev else {}
    changes = {"as_of": as_of, "since": prev[0] if prev else None, "tables": {}}
    for entry in files:
        table = entry["table"]
        digests = row_digests(directory / entry["path"], SNAPSHOT_KEYS[table])
        entry["content_sha256"] = content_hash(digests)
        old_entry = prev_files.get(table)
        old_path = export_root / old_entry["path"] if old_entry else None
        old = row_digests(old_path, SNAPSHOT_KEYS[table]) if old_path and old_path.is_file() else None
        changes["tables"][table] = {
            "key": list(SNAPSHOT_KEYS[table]), "rows": entry["rows"],
            "table_changed": old_entry is None or old_entry.get("content_sha256") != entry["content_sha256"],
            **diff_rows(digests, old)}
    path = directory / "changes.json"
    path.write_text(json.dumps(changes, indent=1, sort_keys=True))
    files.append({"path": "changes.json", "sha256": sha256_file(path), "bytes": path.stat().st_size})
    manifest = {"kind": "snapshot", "as_of": as_of, "since": changes["since"], "schema_version": SCHEMA_VERSION,
                "k": k, "files": files, "anonymization": _summary(info)}
    (directory / "manifest.json").write_bytes(_manifest_bytes(manifest))
    return manifest


# --- the index ----------------------------------------------------------------------------------

def index_path(export_root: Path) -> Path:
    return Path(export_root) / DAILY_DIR / INDEX_NAME


def load_index(export_root: Path) -> dict:
    try:
        index = json.loads(index_path(export_root).read_text())
    except FileNotFoundError:
        return {"format": INDEX_FORMAT, "paths_relative_to": "..", "sequence": 0, "updated_at": None,
                "days": {}, "snapshots": {}, "latest_snapshot": None}
    if index.get("format") != INDEX_FORMAT:
        raise ValueError(f"{index_path(export_root)}: unknown index format {index.get('format')!r}")
    return index


def _save_index(export_root: Path, index: dict, now: datetime | None) -> None:
    index["sequence"] = int(index.get("sequence") or 0) + 1
    index["updated_at"] = (now or datetime.now(timezone.utc)).replace(microsecond=0).isoformat()
    index["days"] = dict(sorted(index["days"].items()))
    index["snapshots"] = dict(sorted(index["snapshots"].items()))
    index["latest_snapshot"] = max(index["snapshots"], default=None)
    path = index_path(export_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(index, indent=1).encode())


def _same_files(export_root: Path, entry: dict | None, files: list[dict]) -> bool:
    """Whether the index entry already describes exactly these files, all present on disk."""
    if not entry:
        return False
    key = lambda fs: sorted((f["path"], f["sha256"], f.get("rows")) for f in fs)  # noqa: E731
    return key(entry.get("files", [])) == key(files) and all(
        (export_root / f["path"]).is_file() and sha256_file(export_root / f["path"]) == f["sha256"]
        for f in files)


def _move_into_place(src: Path, dest: Path) -> None:
    """A staged file's bytes written at `dest` atomically."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(dest, src.read_bytes())


def _published_entry(manifest: dict, files: list[dict], manifest_rel: str, data: bytes, run_id: str | None,
                     now: datetime | None) -> dict:
    return {"manifest": manifest_rel, "manifest_sha256": hashlib.sha256(data).hexdigest(),
            "rows": {f["table"]: f["rows"] for f in files if "table" in f},
            "files": files, "published_at": (now or datetime.now(timezone.utc)).replace(microsecond=0).isoformat(),
            "run_id": run_id}


def publish_days(export_root: Path, staged: Path, days: Sequence[str], *, run_id: str | None = None,
                 now: datetime | None = None) -> dict[str, str]:
    """Move each staged day's files into `daily/`, then record the days in the index.

    Returns {day: "published" | "replaced" | "unchanged"}; an unchanged day (same checksums as the
    index says are on disk) is left untouched, so reruns are idempotent down to file times.
    """
    export_root = Path(export_root)
    statuses: dict[str, str] = {}
    with locked(export_root / LOCK_NAME):
        index = load_index(export_root)
        for day in days:
            manifest = json.loads((staged / day / "manifest.json").read_text())
            files = [{**f, "path": f"{DAILY_DIR}/{f['table']}/{day}.parquet"} for f in manifest["files"]]
            current = index["days"].get(day)
            if _same_files(export_root, current, files):
                statuses[day] = "unchanged"
                continue
            for staged_file, final in zip(manifest["files"], files):
                _move_into_place(staged / day / staged_file["path"], export_root / final["path"])
            published = {**manifest, "files": files}
            data = _manifest_bytes(published)
            manifest_rel = f"{DAILY_DIR}/{MANIFESTS_DIR}/{day}.json"
            (export_root / manifest_rel).parent.mkdir(parents=True, exist_ok=True)
            write_atomic(export_root / manifest_rel, data)
            index["days"][day] = _published_entry(manifest, files, manifest_rel, data, run_id, now)
            statuses[day] = "replaced" if current else "published"
        if any(s != "unchanged" for s in statuses.values()):
            _save_index(export_root, index, now)
    return statuses


def publish_snapshot(export_root: Path, staged: Path, as_of: str, *, run_id: str | None = None,
                     now: datetime | None = None) -> str:
    """Move a staged snapshot into `snapshots/<as_of>/` and record it in the index.

    Nothing is written when no table changed since the previous snapshot ("unchanged"); a same-day
    snapshot that the data has since reverted from is withdrawn ("withdrawn").
    """
    export_root = Path(export_root)
    with locked(export_root / LOCK_NAME):
        index = load_index(export_root)
        manifest = json.loads((staged / "manifest.json").read_text())
        prev = previous_snapshot(index, as_of)
        current = index["snapshots"].get(as_of)
        tables = {f["table"]: f["content_sha256"] for f in manifest["files"] if "table" in f}
        if prev is not None and all(
                tables.get(f["table"]) == f.get("content_sha256") for f in prev[1]["files"] if "table" in f):
            if current is None:
                return "unchanged"
            del index["snapshots"][as_of]
            _save_index(export_root, index, now)
            for f in current["files"] + [{"path": current["manifest"]}]:
                with contextlib.suppress(FileNotFoundError):
                    (export_root / f["path"]).unlink()
            with contextlib.suppress(OSError):
                (export_root / SNAPSHOTS_DIR / as_of).rmdir()
            return "withdrawn"
        rel_dir = f"{SNAPSHOTS_DIR}/{as_of}"
        files = [{**f, "path": f"{rel_dir}/{f['path']}"} for f in manifest["files"]]
        if _same_files(export_root, current, files):
            return "unchanged"
        for staged_file, final in zip(manifest["files"], files):
            _move_into_place(staged / staged_file["path"], export_root / final["path"])
        published = {**manifest, "files": files}
        data = _manifest_bytes(published)
        manifest_rel = f"{rel_dir}/manifest.json"
        write_atomic(export_root / manifest_rel, data)
        index["snapshots"][as_of] = _published_entry(manifest, files, manifest_rel, data, run_id, now)
        _save_index(export_root, index, now)
        return "replaced" if current else "published"


# --- change detection for the sensor --------------------------------------------------------------

CURSOR_VERSION = 1


@dataclass
class SourceChanges:
    cursor: dict
    days: list[str]
    snapshot: bool
    baseline: bool


def _digest(path: Path) -> str:
    return sha256_file(path)[:16]


def day_digests(read: SourceRead) -> dict[str, str]:
    """{UTC day: digest of that day's records} (independent of record order)."""
    rows: dict[str, list[str]] = defaultdict(list)
    for row in read.rows:
        d = day_of(row.get(SPECS[read.table].event_time))
        if d is not None:
            rows[d].append(json.dumps(row, sort_keys=True, default=str))
    return {d: hashlib.sha256("\n".join(sorted(r)).encode()).hexdigest()[:16] for d, r in rows.items()}


def detect_changes(root: Path, tz: tzinfo, cursor: dict | None, first_day: str | None,
                   last_day: str | None) -> SourceChanges:
    """Compare the source with the state in `cursor`; return the new state, the days to re-export and
    whether the snapshot sources changed.

    History files are compared by (size, mtime), then by content hash (a touch alone changes nothing);
    a changed file requests its own day and any other day its records fall on. The whole-file sources
    (memories, outcomes) keep a digest per day, so only days whose records changed are requested.
    Only days that are partitions (first_day..last_day, i.e. complete UTC days) are recorded, so a day
    still being written is picked up once it becomes a partition. Without a cursor, the current state
    is recorded as the baseline and nothing is requested.
    """
    baseline = cursor is None or cursor.get("v") != CURSOR_VERSION
    prev_files: dict = {} if baseline else cursor.get("files", {})
    prev_days: dict = {} if baseline else cursor.get("days", {})
    new_cursor_reparse = baseline or cursor.get("last_day") != last_day
    files: dict[str, list] = {}
    per_day: dict[str, dict[str, str]] = {}
    changed: set[str] = set()
    snapshot = False

    def partition(d: str | None) -> bool:
        return d is not None and last_day is not None and d <= last_day and (first_day is None or d >= first_day)

    for table in DAY_FILE_TABLES:
        spec = SPECS[table]
        for day, path in spec.incremental.day_files(root, None):
            if not partition(day):
                continue
            rel = path.relative_to(root).as_posix()
            fp, old = fingerprint(path), prev_files.get(rel)
            if old and old[:2] == fp:
                files[rel] = old
                continue
            files[rel] = fp + [_digest(path)]
            if old and old[2] == files[rel][2]:
                continue
            changed.add(day)
            if not baseline:
                changed |= {d for r in spec.read(root, tz, days=[day])[table].rows
                            if partition(d := day_of(r.get(spec.event_time)))}
    for rel, old in prev_files.items():
        m = DAY_FILE.match(Path(rel).name)
        if m and rel not in files and not (root / rel).exists():
            changed |= {d for d in near_days([m.group(2)]) if partition(d)}

    for rel, table in DATED_FILES.items():
        path = find(root, rel)
        old, old_days = prev_files.get(rel), prev_days.get(rel, {})
        if path is None:
            changed |= {d for d in old_days if partition(d)}
            continue
        fp = fingerprint(path)
        if old and old[:2] == fp and not new_cursor_reparse:
            files[rel], per_day[rel] = old, old_days
            continue
        digests = {d: h for d, h in day_digests(SPECS[table].read(root, tz)[table]).items() if partition(d)}
        files[rel], per_day[rel] = fp + [""], digests
        changed |= {d for d in digests.keys() | old_days.keys() if digests.get(d) != old_days.get(d) and partition(d)}

    for rel in SNAPSHOT_SOURCES:
        path = find(root, rel)
        if path is None:
            snapshot |= rel in prev_files
            continue
        fp, old = fingerprint(path), prev_files.get(rel)
        if old and old[:2] == fp:
            files[rel] = old
            continue
        files[rel] = fp + [_digest(path)]
        snapshot |= not (old and old[2] == files[rel][2])

    new_cursor = {"v": CURSOR_VERSION, "last_day": last_day, "files": dict(sorted(files.items())),
                  "days": per_day}
    if baseline:
        return SourceChanges(new_cursor, [], False, True)
    return SourceChanges(new_cursor, sorted(changed), snapshot, False)
