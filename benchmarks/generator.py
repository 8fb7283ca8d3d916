r"""Deterministic generator of realistic `.tapps-agents/` learning-data directories.

Writes every file of the on-disk contract (`shared/SOURCE_FORMATS.md`) with the framework's field
names, types, file names and timestamp conventions, plus deliberate damage (truncated, invalid,
non-object, wrong-typed and non-UTF-8 lines) and deliberately planted, distinctive sensitive values
(user/host/project names, paths, credentials, contact data, code, raw ids). `GeneratedData.planted`
lists the exact planted strings so that tests can byte-scan an anonymized export for leaks.

Planted values are recorded decoded, exactly as they occur in the data: on disk some appear only
JSON-escaped (Windows paths with doubled backslashes, the non-ASCII user name as \u00e4 in files
written with ensure_ascii, one patterns line with every '/' written as '\/'), so a leak scan of an
export must look for escaped forms too. Raw ids (task, workflow, pattern, capability, prompt hash)
are recorded up to MAX_IDS_PER_KIND per kind, i.e. all of them at the tiny/sample scales.

Only the standard library is used; output depends on nothing but (scale, seed, damaged, gzip), not
on the output path or the clock. Analytics history is generated and written one day at a time, so
memory stays flat at any scale; at large scales agent history and patterns are written by a second
process (independent RNG streams, so the bytes are the same either way).

Usage: python -m benchmarks.generator OUT_DIR [--scale sample|tiny|typical|large] [--seed N]
       [--days N] [--no-damage] [--gzip]
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime as dt
import gzip
import hashlib
import io
import json
import math
import multiprocessing
import random
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from statistics import NormalDist

__all__ = ["Scale", "SCALES", "GeneratedData", "generate", "main"]


@dataclass(frozen=True)
class Scale:
    capabilities: int = 24
    patterns: int = 60
    memories: int = 80
    outcomes: int = 60
    days: int = 7
    agent_events_per_day: int = 40
    workflow_events_per_day: int = 10
    start: dt.date = dt.date(2026, 3, 1)


SCALES: dict[str, Scale] = {
    "tiny": Scale(capabilities=8, patterns=15, memories=20, outcomes=12, days=3,
                  agent_events_per_day=12, workflow_events_per_day=4),
    "sample": Scale(),
    "typical": Scale(capabilities=1_000, patterns=10_000, memories=10_000, outcomes=3_000, days=90,
                     agent_events_per_day=1_112, workflow_events_per_day=60),
    "large": Scale(capabilities=10_000, patterns=100_000, memories=100_000, outcomes=20_000, days=90,
                   agent_events_per_day=11_112, workflow_events_per_day=400),
}


@dataclass
class GeneratedData:
    root: Path
    planted: dict[str, list[str]]
    counts: dict[str, int]
    agent_events_per_day: dict[str, int]
    workflow_events_per_day: dict[str, int]
    damaged: dict[str, int]


# ------------------------------------------------------------------------------------------------
# Planted sensitive values. Constant across seeds (the catalogue's own RNG has a fixed seed) and
# distinctive enough that a byte scan of an export cannot match them by chance.
# ------------------------------------------------------------------------------------------------

USERS = ("zorblatt", "quenfrey", "märtaqvist")          # the last one is \u-escaped by json.dumps
HOSTS = ("qx-devbox-77", "vrrn-build-04", "plexo-ws-31")
PROJECTS = ("acmesecretproj", "tarnwickledger", "hyperloopbilling")

_K = random.Random("tapps-agents-planted-catalogue/v1")
_UP = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _rand(alphabet: str, n: int, rng: random.Random = _K) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


AWS_KEYS = ("AKIA" + _rand(_UP, 16), "AKIA" + _rand(_UP, 16))
AWS_SECRET = _rand(_ALNUM + "/+", 40)
GITHUB_TOKENS = ("ghp_" + _rand(_ALNUM, 36), "ghp_" + _rand(_ALNUM, 36))
API_KEYS = ("sk-" + _rand(_ALNUM, 48), "sk-proj-" + _rand(_ALNUM, 40))
_JWT_PAYLOAD = _b64url(json.dumps({"sub": "zorblatt", "email": "zorblatt.k@acmesecretproj.io",
                                   "iat": 1772352000, "scope": "billing:admin"},
                                  separators=(",", ":")).encode())
JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + _JWT_PAYLOAD + "."
       + _b64url(bytes(_K.getrandbits(8) for _ in range(32))))
_PEM_LINES = tuple(
    ("MIIEpAIBAAKCAQEA" + base64.b64encode(bytes(_K.getrandbits(8) for _ in range(36))).decode())[:64]
    if i == 0 else base64.b64encode(bytes(_K.getrandbits(8) for _ in range(48))).decode()
    for i in range(5))
PEM_BLOCK = ("-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(_PEM_LINES)
             + "\n-----END RSA PRIVATE KEY-----")
URL_PASSWORDS = ("Pq7vTn2LxKw9", "Wq9vR2mZt7Kx")
URLS_WITH_PASSWORD = (
    f"https://zorblatt:{URL_PASSWORDS[0]}@git.acmesecretproj.corp.internal/billing/core.git",
    f"postgres://svc_ledger:{URL_PASSWORDS[1]}@10.44.203.17:5432/tarnwickledger",
)
IPS = ("10.44.203.17", "192.168.77.141", "172.31.250.9")
PHONES = ("+1-415-555-0173", "(206) 555-0148", "+44 20 7946 0958")
EMAILS = ("zorblatt.k@acmesecretproj.io", "quenfrey@tarnwickledger.example.com",
          "ops-oncall+qx77@hyperloopbilling.dev")
INTERNAL_URLS = ("https://qx-devbox-77.corp.internal/jenkins/job/acmesecretproj-ci/",
                 "http://wiki.tarnwick.corp.internal/display/ENG/LedgerSync",
                 "https://grafana.hyperloopbilling.internal/d/agents-latency")
PATHS = (
    "/home/zorblatt/acmesecretproj/src/billing/charge_card.py",
    "C:\\Users\\quenfrey\\tarnwickledger\\app\\ledger_sync.py",
    "~/hyperloopbilling/scripts/deploy_prod.sh",
    "file:///home/märtaqvist/hyperloopbilling/docs/runbook.md",
    "\\\\QX-DEVBOX-77\\share\\acmesecretproj\\specs\\v2.docx",
    "/Users/quenfrey/work/tarnwickledger/.env",
)
PLANTED_FUNCS = ("zorblatt_charge_card", "qxv_reconcile_ledger", "tarnwick_sync_invoices",
                 "acmesecret_rotate_vault")
PLANTED_CLASSES = ("ZorblattPaymentGateway", "AcmeSecretProjClient", "TarnwickLedgerSync")
PLANTED_MODULES = ("acmesecretproj.billing.vault", "tarnwickledger.sync")
CODE_LINES = (
    "def zorblatt_charge_card(",
    "class ZorblattPaymentGateway(",
    "import acmesecretproj.billing.vault",
    "from tarnwickledger.sync import reconcile_quenfrey_batches",
    "def qxv_reconcile_ledger(",
)
CODE_BLOCK = ("```python\nimport acmesecretproj.billing.vault\n\n"
              "def zorblatt_charge_card(self, amount_cents, card_token):\n"
              "    vault = acmesecretproj.billing.vault.open(\"" + PATHS[0] + "\")\n"
              "    return self.gateway.charge(amount_cents, card_token, retries=3)\n```")

# Each fragment: (text inserted into free text, [(kind, exact value recorded when used), ...]).
FRAGMENTS: list[tuple[str, list[tuple[str, str]]]] = [
    (PATHS[0], [("path", PATHS[0]), ("user", "zorblatt"), ("project", "acmesecretproj")]),
    (PATHS[1], [("path", PATHS[1]), ("user", "quenfrey"), ("project", "tarnwickledger")]),
    (PATHS[2], [("path", PATHS[2]), ("project", "hyperloopbilling")]),
    (PATHS[3], [("path", PATHS[3]), ("user", "märtaqvist"), ("project", "hyperloopbilling")]),
    (PATHS[4], [("path", PATHS[4]), ("host", "QX-DEVBOX-77"), ("project", "acmesecretproj")]),
    (PATHS[5], [("path", PATHS[5]), ("user", "quenfrey"), ("project", "tarnwickledger")]),
    (f"ping {EMAILS[0]}", [("email", EMAILS[0])]),
    (f"owner {EMAILS[1]}", [("email", EMAILS[1])]),
    (f"page {EMAILS[2]}", [("email", EMAILS[2])]),
    (f"AWS_ACCESS_KEY_ID={AWS_KEYS[0]}", [("aws_key", AWS_KEYS[0])]),
    (f"key {AWS_KEYS[1]} in ~/.aws/credentials", [("aws_key", AWS_KEYS[1])]),
    (f"aws_secret_access_key = {AWS_SECRET}", [("aws_key", AWS_SECRET)]),
    (f"GITHUB_TOKEN={GITHUB_TOKENS[0]}", [("github_token", GITHUB_TOKENS[0])]),
    (f"git clone https://{GITHUB_TOKENS[1]}@github.com/acmesecretproj/billing",
     [("github_token", GITHUB_TOKENS[1]), ("project", "acmesecretproj")]),
    (f"OPENAI_API_KEY={API_KEYS[0]}", [("api_key", API_KEYS[0])]),
    (f"api_key=\"{API_KEYS[1]}\"", [("api_key", API_KEYS[1])]),
    (f"Authorization: Bearer {JWT}", [("jwt", JWT), ("jwt", _JWT_PAYLOAD)]),
    (PEM_BLOCK, [("private_key", line) for line in _PEM_LINES]),
    (URLS_WITH_PASSWORD[0], [("url_password", URLS_WITH_PASSWORD[0]),
                             ("url_password", URL_PASSWORDS[0]), ("user", "zorblatt")]),
    (URLS_WITH_PASSWORD[1], [("url_password", URLS_WITH_PASSWORD[1]),
                             ("url_password", URL_PASSWORDS[1]), ("ip", IPS[0])]),
    (f"ssh deploy@{IPS[0]}", [("ip", IPS[0])]),
    (f"redis at {IPS[1]}:6379", [("ip", IPS[1])]),
    (f"vpn gw {IPS[2]}", [("ip", IPS[2])]),
    (f"call {PHONES[0]} for the on-call", [("phone", PHONES[0])]),
    (f"QA lead phone {PHONES[1]}", [("phone", PHONES[1])]),
    (f"London desk {PHONES[2]}", [("phone", PHONES[2])]),
    (f"see {INTERNAL_URLS[0]}", [("internal_url", INTERNAL_URLS[0]), ("host", "qx-devbox-77")]),
    (f"spec at {INTERNAL_URLS[1]}", [("internal_url", INTERNAL_URLS[1])]),
    (f"dashboard {INTERNAL_URLS[2]}", [("internal_url", INTERNAL_URLS[2])]),
    (CODE_LINES[0] + "self, amount_cents, card_token):",
     [("code", CODE_LINES[0]), ("function_name", "zorblatt_charge_card")]),
    (CODE_LINES[1] + "BaseGateway):", [("code", CODE_LINES[1]),
                                       ("function_name", "ZorblattPaymentGateway")]),
    (CODE_LINES[2], [("code", CODE_LINES[2]), ("project", "acmesecretproj")]),
    (CODE_LINES[3], [("code", CODE_LINES[3]), ("project", "tarnwickledger")]),
    (CODE_LINES[4] + "batch, *, dry_run=False):",
     [("code", CODE_LINES[4]), ("function_name", "qxv_reconcile_ledger")]),
    (CODE_BLOCK, [("code", CODE_LINES[0]), ("code", CODE_LINES[2]), ("path", PATHS[0])]),
    ("ran as zorblatt on qx-devbox-77", [("user", "zorblatt"), ("host", "qx-devbox-77")]),
    ("Zorblatt asked to keep the old retry semantics", [("user", "Zorblatt")]),
    ("export ZORBLATT_SIGNING_SALT before running", [("user", "ZORBLATT")]),
    ("build broke on vrrn-build-04 again", [("host", "vrrn-build-04")]),
    ("märtaqvist reproduced it on plexo-ws-31", [("user", "märtaqvist"), ("host", "plexo-ws-31")]),
    ("AcmeSecretProj release train", [("project", "AcmeSecretProj")]),
    ("HYPERLOOPBILLING_ENV=staging", [("project", "HYPERLOOPBILLING")]),
]

# ------------------------------------------------------------------------------------------------
# Vocabulary
# ------------------------------------------------------------------------------------------------

ROLES = ("analyst", "architect", "debugger", "designer", "documenter", "enhancer", "evaluator",
         "implementer", "improver", "ops", "orchestrator", "planner", "reviewer", "tester")
# Sample/tiny use six roles with unequal weights: most (agent, day) groups reach k=5, a few don't.
SMALL_ROLES = (("implementer", 26), ("reviewer", 23), ("tester", 19), ("planner", 15),
               ("debugger", 12), ("documenter", 5))
SKILLS = {
    "analyst": ("requirements-gathering", "stakeholder-analysis", "effort-estimate"),
    "architect": ("system-design", "dependency-graph", "api-contract"),
    "debugger": ("root-cause-analysis", "stacktrace-triage", "bisect-regression"),
    "designer": ("ui-wireframe", "data-model-design", "api-design"),
    "documenter": ("docstring-gen", "readme-update", "changelog-draft"),
    "enhancer": ("prompt-enhance", "context-enrich"),
    "evaluator": ("quality-gate", "benchmark-compare"),
    "implementer": ("implement-feature", "refactor-module", "generate-code", "fix-bug"),
    "improver": ("performance-tune", "code-cleanup"),
    "ops": ("deploy-pipeline", "infra-audit", "compliance-check"),
    "orchestrator": ("workflow-routing", "parallel-dispatch"),
    "planner": ("story-breakdown", "sprint-plan", "risk-matrix"),
    "reviewer": ("security-scan", "code-review", "lint-report", "type-check"),
    "tester": ("unit-test-gen", "integration-tests", "coverage-report"),
}
COMMANDS = {
    "analyst": ("gather-requirements", "estimate"), "architect": ("design-system", "review-design"),
    "debugger": ("debug", "analyze-error", "trace"), "designer": ("design-api", "design-model"),
    "documenter": ("document", "generate-docs"), "enhancer": ("enhance", "enhance-quick"),
    "evaluator": ("evaluate", "score"), "implementer": ("implement", "refactor", "generate-code"),
    "improver": ("improve", "optimize"), "ops": ("deploy", "audit-security", "compliance"),
    "orchestrator": ("workflow", "dispatch"), "planner": ("plan", "create-story"),
    "reviewer": ("review", "score", "lint", "type-check"), "tester": ("test", "generate-tests"),
}
MODULES = ("payments", "auth", "ledger", "invoices", "webhooks", "search", "reports", "sync",
           "notifications", "scheduler", "vault", "gateway")
GENERIC_FUNCS = ("parse_config", "load_settings", "validate_payload", "retry_request", "build_query",
                 "normalize_path", "render_template", "compute_checksum", "fetch_user_profile",
                 "send_notification", "refresh_cache", "handle_webhook", "serialize_event",
                 "apply_migration", "resolve_dependencies", "format_report", "merge_results",
                 "schedule_job", "encode_token", "split_batches", "paginate_results", "charge")
GENERIC_CLASSES = ("RetryPolicy", "CacheManager", "EventBus", "ConfigLoader", "RateLimiter",
                   "SessionStore", "TaskQueue", "ReportBuilder", "PaymentClient")
GENERIC_IMPORTS = ("json", "pathlib", "asyncio", "dataclasses", "typing", "logging", "httpx",
                   "pydantic", "sqlalchemy")
STRUCTURES = ("try_except_retry", "context_manager", "guard_clause", "dependency_injection",
              "builder_chain", "async_gather")
THINGS = ("payment", "ledger", "auth", "webhook", "search index", "report", "cache", "queue",
          "invoice", "session", "config loader", "rate limiter")
EXPERTS = (("expert-security", "security"), ("expert-performance", "performance"),
           ("expert-testing", "testing"), ("expert-architecture", "architecture"),
           ("expert-code-quality", "code-quality"), ("expert-acmesecretproj-billing", "billing"))
WORKFLOW_NAMES = ("full-sdlc", "quick-fix", "rapid-dev", "security-audit", "docs-refresh",
                  "maintenance", "feature-dev")
STEP_NAMES = ("plan", "design", "implement", "review", "test", "document", "security", "deploy",
              "evaluate")

_T_LEARN = (
    "use dependency injection for the {thing} client",
    "retry with exponential backoff when calling the {thing} API",
    "mock {func}() in unit tests, it hits the network",
    "{func}() must validate input before touching the {thing}",
    "extract the {thing} mapping into a pure function",
    "pin the {thing} schema version in fixtures",
)
_T_LEARN_F = (
    "{frag} must be mocked in unit tests",
    "the flaky test was caused by {frag}",
    "found hardcoded credential {frag}; moved it to the vault",
    "config for the {thing} lives in {frag}",
    "reviewer flagged {frag} in {func}()",
    "reuse this:\n{frag}",
    "{frag} -- do not commit this again",
)
_T_DESC = (
    "add retry to {func}()", "refactor the {thing} module", "fix off-by-one in {func}()",
    "write tests for the {thing} client", "speed up {func}() on large batches",
    "document the {thing} flow",
)
_T_DESC_F = (
    "fix {func}() failing for {frag}", "investigate crash reported via {frag}",
    "rotate secrets after {frag} leaked", "port {frag} to the new {thing} API",
    "patch {thing}: {frag}",
)
_T_REASON = ("swallows exceptions", "quadratic loop over {thing} rows", "mutable default argument",
             "blocking call inside async {func}()", "SQL built by string concatenation")
_T_REASON_F = ("leaks {frag}", "hardcodes {frag}", "breaks when run from {frag}",
               "logs {frag} at INFO level")
_T_FEEDBACK = ("good change, but {func}() needs a docstring", "suggestion accepted as-is",
               "too verbose; keep the {thing} diff small", "prefer composition over inheritance here")
_T_FEEDBACK_F = ("rejected: output contained {frag}", "please never print {frag} again",
                 "worked, but it touched {frag}", "accepted after removing {frag}",
                 "{frag} -- reviewer note on {func}()")
_T_ERROR = ("TimeoutError: {thing} did not respond in 30s", "AssertionError in test_{func}",
            "quality gate failed: score 61 < 70", "ModuleNotFoundError: no module named '{thing}'")
_T_ERROR_F = ("FileNotFoundError: [Errno 2] No such file or directory: '{frag}'",
              "PermissionError while reading {frag}", "ConnectionRefusedError: {frag}",
              "gate failed, secret detected: {frag}")

PARALLEL_MIN_AGENT_EVENTS = 200_000  # below this, agent history is written in-process
MAX_IDS_PER_KIND = 2000  # raw ids recorded in `planted` per id kind (all of them at small scales)

# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------

_UTC = dt.timezone.utc
_dumps = json.JSONEncoder(ensure_ascii=True).encode


def _pick(r: random.Random, seq):
    return seq[int(r.random() * len(seq))]


def _below(r: random.Random, n: int) -> int:
    return int(r.random() * n)


def _between(r: random.Random, a: int, b: int) -> int:
    return a + int(r.random() * (b - a + 1))


def _ts(d: dt.datetime, micro: bool = True) -> str:
    s = "%04d-%02d-%02dT%02d:%02d:%02d" % (d.year, d.month, d.day, d.hour, d.minute, d.second)
    return f"{s}.{d.microsecond:06d}" if micro else s


def _at(day: dt.date, seconds: float) -> dt.datetime:
    seconds = min(max(seconds, 0.0), 86399.999999)
    return dt.datetime(day.year, day.month, day.day) + dt.timedelta(seconds=seconds)


def _day_seconds(rng: random.Random) -> float:
    """Seconds into a day, concentrated in working hours."""
    if rng.random() < 0.82:
        return 7 * 3600 + rng.random() * 12 * 3600
    return rng.random() * 86400


def _spread(total: int, days: int, start: dt.date) -> list[int]:
    """Split `total` over `days` (weekends lighter), summing exactly to `total`."""
    if days <= 0:
        return []
    w = [0.8 if (start + dt.timedelta(days=i)).weekday() >= 5 else 1.08 for i in range(days)]
    s = sum(w)
    raw = [total * x / s for x in w]
    out = [int(math.floor(x)) for x in raw]
    rest = total - sum(out)
    for i in sorted(range(days), key=lambda i: (out[i] - raw[i], i))[:rest]:
        out[i] += 1
    return out


class _Lines:
    """Buffered line writer (text, UTF-8, '\\n')."""

    def __init__(self, path: Path, chunk: int = 4096):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(path, "w", encoding="utf-8", newline="\n", buffering=1 << 20)
        self.buf: list[str] = []
        self.chunk = chunk

    def add(self, line: str) -> None:
        self.buf.append(line)
        if len(self.buf) >= self.chunk:
            self.fh.write("".join(self.buf))
            self.buf.clear()

    def close(self) -> None:
        self.fh.write("".join(self.buf))
        self.buf.clear()
        self.fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _open_snapshot(path: Path, gz: bool):
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        raw = open(path.with_name(path.name + ".gz"), "wb")
        zf = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6)
        text = io.TextIOWrapper(zf, encoding="utf-8", newline="\n")
        return text, (text, zf, raw)
    fh = open(path, "w", encoding="utf-8", newline="\n", buffering=1 << 20)
    return fh, (fh,)


def _close_all(handles) -> None:
    for h in handles:
        h.close()


class _Ctx:
    def __init__(self, scale: Scale, seed: int, damaged: bool):
        self.scale = scale
        self.seed = seed
        self.damaged_on = damaged
        self.planted: dict[str, dict[str, None]] = {}
        self.counts: dict[str, int] = {}
        self.damaged: dict[str, int] = {}
        self.used_fragments: set[int] = set()

    def rng(self, section: str) -> random.Random:
        return random.Random(f"tapps-agents-generator/{self.seed}/{section}")

    def plant(self, kind: str, value: str) -> None:
        if len(value) < 6:
            return
        bucket = self.planted.setdefault(kind, {})
        if value not in bucket and (len(bucket) < MAX_IDS_PER_KIND
                                    or kind not in ("task_id", "workflow_id", "pattern_id",
                                                    "capability_id", "prompt_hash")):
            bucket[value] = None

    def damage(self, rel: str, n: int = 1) -> None:
        self.damaged[rel] = self.damaged.get(rel, 0) + n


class _Planter:
    """Free-text source for one data source: walks the fragment catalogue (so that every source
    carries a variety of planted values even at tiny scales), then plants at a fixed rate."""

    def __init__(self, ctx: _Ctx, rng: random.Random, offset: int, rate: float = 0.3):
        self.ctx, self.rng, self.rate = ctx, rng, rate
        self.cursor = offset % len(FRAGMENTS)
        self.forced = len(FRAGMENTS)
        self.tick = False

    def frag(self) -> str:
        if self.forced > 0:
            self.forced -= 1
            i = self.cursor
            self.cursor = (self.cursor + 1) % len(FRAGMENTS)
        else:
            i = self.rng.randrange(len(FRAGMENTS))
        text, recs = FRAGMENTS[i]
        self.ctx.used_fragments.add(i)
        for kind, value in recs:
            self.ctx.plant(kind, value)
        return text

    def wants(self) -> bool:
        if self.forced > 0:  # every other call while the catalogue walk lasts
            self.tick = not self.tick
            return self.tick
        return self.rng.random() < self.rate

    def say(self, plain: tuple[str, ...], with_frag: tuple[str, ...], force: bool | None = None) -> str:
        r = self.rng
        use = self.wants() if force is None else force
        tpl = _pick(r, with_frag if use else plain)
        return tpl.format(thing=_pick(r, THINGS), func=_pick(r, GENERIC_FUNCS),
                          frag=self.frag() if use else "")

    def path(self) -> str:
        """An absolute path in one of the planted users' projects."""
        r = self.rng
        if self.wants() and r.random() < 0.5:
            i = _below(r, len(PATHS))
            text = PATHS[i]
            frag_index = i  # PATHS[i] is FRAGMENTS[i]
            self.ctx.used_fragments.add(frag_index)
            for kind, value in FRAGMENTS[frag_index][1]:
                self.ctx.plant(kind, value)
            return text
        u = _below(r, len(USERS))
        p = _below(r, len(PROJECTS))
        user, proj = USERS[u], PROJECTS[p]
        self.ctx.plant("user", user)
        self.ctx.plant("project", proj)
        mod = _pick(r, MODULES)
        name = _pick(r, GENERIC_FUNCS) + ".py"
        style = r.random()
        if style < 0.7:
            return f"/home/{user}/{proj}/src/{mod}/{name}"
        if style < 0.85:
            return f"C:\\Users\\{user}\\{proj}\\src\\{mod}\\{name}"
        return f"/Users/{user}/code/{proj}/{mod}/{name}"


def _agent_variants(ctx: _Ctx, roles: list[tuple[str, float]]) -> list[tuple[str, str, float]]:
    """(agent_id, role, weight): plain role ids plus, for a few roles, a rare id embedding a user or
    host name (e.g. "reviewer@qx-devbox-77", "implementer-zorblatt")."""
    out: list[tuple[str, str, float]] = []
    for k, (role, w) in enumerate(roles):
        if not (k < 3 or k % 4 == 3):
            out.append((role, role, w))
            continue
        out.append((role, role, w * 0.93))
        user, host = USERS[k % len(USERS)], HOSTS[k % len(HOSTS)]
        variant = (f"{role}@{host}", f"{role}-{user}", f"{role} ({user})")[k % 3]
        out.append((variant, role, w * 0.07))
        ctx.plant("host" if "@" in variant else "user", host if "@" in variant else user)
    return out


# ------------------------------------------------------------------------------------------------
# Ids
# ------------------------------------------------------------------------------------------------

def _capability_ids(ctx: _Ctx, n: int, roles: list[str]) -> list[tuple[str, str]]:
    r = ctx.rng("capability-ids")
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    base = [(role, skill) for role in roles for skill in SKILLS[role]]
    i = 0
    while len(out) < n:
        role, skill = base[i % len(base)] if i < len(base) else _pick(r, base)
        x = r.random()
        if i < len(base) and x < 0.7:
            cid = f"{role}.{skill}"
        elif x < 0.82:
            proj = _pick(r, PROJECTS)
            ctx.plant("project", proj)
            cid = f"{role}.{proj}-{skill}"
        elif x < 0.94:
            user, proj = _pick(r, USERS), _pick(r, PROJECTS)
            ctx.plant("user", user)
            ctx.plant("project", proj)
            cid = f"{role}.{skill}:/home/{user}/{proj}/src/{_pick(r, MODULES)}"
        else:
            user, proj = _pick(r, USERS), _pick(r, PROJECTS)
            ctx.plant("user", user)
            ctx.plant("project", proj)
            cid = f"{role}.{skill}[C:\\Users\\{user}\\{proj}]"
        if cid in seen:
            cid = f"{role}.{skill}.{_pick(r, MODULES)}-{i}"
        if cid in seen:
            cid = f"{role}.{skill}.v{i}"
        seen.add(cid)
        out.append((cid, role))
        ctx.plant("capability_id", cid)
        i += 1
    return out


def _pattern_heads(ctx: _Ctx, n: int) -> list[tuple[str, str, str]]:
    """(pattern_id, pattern_type, name)."""
    r = ctx.rng("pattern-ids")
    counters: dict[str, int] = {}
    out = []
    for i in range(n):
        ptype = r.choices(("function", "class", "import", "structure"), (55, 20, 12, 13))[0]
        planted = r.random() < 0.12 or i < 4
        if ptype == "function" or (i < 4 and i % 2 == 0):
            ptype = "function"
            name = _pick(r, PLANTED_FUNCS if planted else GENERIC_FUNCS)
            prefix = "func"
        elif ptype == "class" or i < 4:
            ptype = "class"
            name = _pick(r, PLANTED_CLASSES if planted else GENERIC_CLASSES)
            prefix = "class"
        elif ptype == "import":
            name = _pick(r, PLANTED_MODULES if planted else GENERIC_IMPORTS).replace(".", "_")
            prefix = "import"
        else:
            name = _pick(r, STRUCTURES)
            prefix = "struct"
        k = counters.get(prefix + name, 0) + 1
        counters[prefix + name] = k
        pid = f"{prefix}_{name}_{k}"
        out.append((pid, ptype, name))
        ctx.plant("pattern_id", pid)
        if name in PLANTED_FUNCS or name in PLANTED_CLASSES:
            ctx.plant("function_name", name)
    return out


def _task_ids(ctx: _Ctx, n: int) -> list[tuple[str, dt.date]]:
    s = ctx.scale
    per_day = _spread(n, s.days, s.start)
    out = []
    for di, k in enumerate(per_day):
        day = s.start + dt.timedelta(days=di)
        for j in range(k):
            tid = f"task-{day.isoformat()}-{j + 1:04d}"
            out.append((tid, day))
            ctx.plant("task_id", tid)
    return out


# ------------------------------------------------------------------------------------------------
# Sources
# ------------------------------------------------------------------------------------------------

_NORMAL = tuple(NormalDist().inv_cdf((i + 0.5) / 4096) for i in range(4096))  # fast N(0,1) draws


def _agent_history(root: str, scale: Scale, seed: int, damaged: bool) -> dict:
    """Write analytics/history/agents-*.jsonl, one day at a time. Self-contained (own context and
    RNG streams) so that it can run in a second process; returns what the caller merges."""
    ctx = _Ctx(scale, seed, damaged)
    s = scale
    roles = _roles(s)
    r = ctx.rng("analytics-agents")
    pl = _Planter(ctx, ctx.rng("analytics-agents-text"), 5, rate=0.2)
    variants = _agent_variants(ctx, roles)
    names = {role: f"{role.capitalize()} Agent" for role, _ in roles}
    prefixes = ['{"agent_id": %s, "agent_name": %s, "duration": ' % (_dumps(aid), _dumps(names[role]))
                for aid, role, _ in variants]
    cum = list(accumulate(w for _, _, w in variants))
    base_dur = {role: 4.0 + 9.0 * ((i * 7) % 5) for i, (role, _) in enumerate(roles)}
    mus = [math.log(base_dur[role]) for _, role, _ in variants]
    psucc = [0.78 + 0.04 * (i % 5) for i in range(len(variants))]
    nv = len(variants)
    agg_n = [0] * nv
    agg_ok = [0] * nv
    agg_dur = [0.0] * nv
    agg_last = [""] * nv
    hist = Path(root) / "analytics" / "history"
    hist.mkdir(parents=True, exist_ok=True)
    per_day: dict[str, int] = {}
    rand, choices, exp, normal = r.random, r.choices, math.exp, _NORMAL
    hms = ["%02d:%02d:%02d" % (x // 3600, (x // 60) % 60, x % 60) for x in range(86400)]
    for di, n in enumerate(_spread(s.agent_events_per_day * s.days, s.days, s.start)):
        ds = (s.start + dt.timedelta(days=di)).isoformat()
        secs = [25200.0 + rand() * 43200.0 if rand() < 0.82 else rand() * 86400.0 for _ in range(n)]
        secs.sort()
        idx = choices(range(nv), cum_weights=cum, k=n)
        lines: list[str] = []
        app = lines.append
        ds_t = ds + "T"
        for j in range(n):
            x = secs[j]
            v = idx[j]
            sec = int(x)
            dur = exp(mus[v] + 0.6 * normal[int(rand() * 4096)])
            agg_dur[v] += dur
            if rand() < psucc[v]:
                okv, extra = "true", ""
                agg_ok[v] += 1
            else:
                okv = "false"
                extra = ', "error": ' + _dumps(pl.say(_T_ERROR, _T_ERROR_F)) if rand() < 0.25 else ""
            app(f'{prefixes[v]}{dur:.3f}, "success": {okv}, "timestamp": "{ds_t}{hms[sec]}.'
                f'{int((x - sec) * 1e6):06d}{"Z" if rand() < 0.3 else "+00:00"}"{extra}}}\n')
        for v, k in Counter(idx).items():
            agg_n[v] += k
        seen_v: set[int] = set()
        for j in range(n - 1, -1, -1):
            v = idx[j]
            if v not in seen_v:
                seen_v.add(v)
                agg_last[v] = lines[j].rsplit('"timestamp": "', 1)[1].split('"', 1)[0]
                if len(seen_v) == nv:
                    break
        per_day[ds] = n
        rel = f"analytics/history/agents-{ds}.jsonl"
        if damaged and n > 0:
            if di == 1 % s.days:
                lines.insert(len(lines) // 2,
                             '{"agent_id": "reviewer", "agent_name": "Reviewer Agent", "duration": 3.2,'
                             ' "success": tru, "timestamp": "%sT10:00:00+00:00"}\n' % ds)
                ctx.damage(rel)
            if di == 2 % s.days:
                lines.insert(len(lines) // 3,
                             '["tester", "Tester Agent", 4.1, true, "%sT11:00:00Z"]\n' % ds)
                ctx.damage(rel)
        with open(hist / f"agents-{ds}.jsonl", "w", encoding="utf-8", newline="\n") as fh:
            fh.write("".join(lines))
        del lines, secs, idx
    agents = {}
    for v, (aid, role, _) in enumerate(variants):
        if agg_n[v]:
            agents[aid] = {"agent_id": aid, "agent_name": names[role], "total_executions": agg_n[v],
                           "successful_executions": agg_ok[v], "failed_executions": agg_n[v] - agg_ok[v],
                           "average_duration": round(agg_dur[v] / agg_n[v], 3),
                           "success_rate": round(agg_ok[v] / agg_n[v], 4), "last_execution": agg_last[v]}
    ctx.counts["agent_events"] = sum(per_day.values())
    return {"per_day": per_day, "agents": agents, **_ctx_result(ctx)}


def _ctx_result(ctx: _Ctx) -> dict:
    return {"damaged": ctx.damaged, "counts": ctx.counts, "used": sorted(ctx.used_fragments),
            "planted": {k: list(v) for k, v in ctx.planted.items()}}


def _patterns_part(root: str, scale: Scale, seed: int, damaged: bool) -> dict:
    ctx = _Ctx(scale, seed, damaged)
    _write_patterns(ctx, Path(root), _pattern_heads(ctx, scale.patterns), _task_ids(ctx, scale.memories))
    return _ctx_result(ctx)


def _second_half(root: str, scale: Scale, seed: int, damaged: bool) -> tuple[dict, dict]:
    """Agent history and patterns: the part of the work that may run in a second process."""
    return (_agent_history(root, scale, seed, damaged), _patterns_part(root, scale, seed, damaged))


def _write_workflow_history(ctx: _Ctx, root: Path, roles: list[tuple[str, float]]):
    """Workflow history and step executions, one day at a time."""
    s = ctx.scale
    r = ctx.rng("analytics")
    pl = _Planter(ctx, ctx.rng("analytics-text"), 13, rate=0.2)
    wf_agg: dict[str, list[float]] = {}
    wf_days = _spread(s.workflow_events_per_day * s.days, s.days, s.start)
    hist = root / "analytics" / "history"
    hist.mkdir(parents=True, exist_ok=True)
    per_day_w: dict[str, int] = {}
    wf_refs: list[tuple[str, dt.datetime, str]] = []
    n_steps_total = 0
    wf_total_target = max(1, s.workflow_events_per_day * s.days)
    p_steps = min(0.2, 6000 / wf_total_target)
    error_emitted = False
    for di in range(s.days):
        day = s.start + dt.timedelta(days=di)
        ds = day.isoformat()
        # --- workflows + step executions ------------------------------------------------------
        m = wf_days[di]
        starts = sorted(6 * 3600 + r.random() * 15 * 3600 for _ in range(m))
        wlines = []
        slines = []
        seen_ids: set[str] = set()
        for x in starts:
            t0 = _at(day, x)
            while True:
                wid = "wf-%s-%s-%04x" % (t0.strftime("%Y%m%d"), t0.strftime("%H%M%S"), r.getrandbits(16))
                if wid not in seen_ids:
                    break
            seen_ids.add(wid)
            ctx.plant("workflow_id", wid)
            wname = _pick(r, WORKFLOW_NAMES)
            if pl.wants() and r.random() < 0.6:
                wname = _pick(r, (f"bugfix {pl.path()}", f"{wname}: {pl.frag()}",
                                  f"{wname} for {_pick(r, USERS)}@{_pick(r, HOSTS)}"))
                for u in USERS:
                    if u in wname:
                        ctx.plant("user", u)
                for h in HOSTS:
                    if h in wname:
                        ctx.plant("host", h)
            nsteps = _between(r, 2, 9)
            step_durs = [r.lognormvariate(math.log(60), 0.7) for _ in range(nsteps)]
            total = min(sum(step_durs), 2.5 * 3600)
            scale_f = total / sum(step_durs)
            step_durs = [d * scale_f for d in step_durs]
            ok = r.random() < 0.84
            rec = {"workflow_id": wid, "workflow_name": wname, "duration": round(total, 3),
                   "steps": nsteps, "success": ok, "timestamp": _ts(t0)}
            if r.random() < 0.1:
                rec["agents"] = sorted({role for role, _ in r.sample(roles, min(3, len(roles)))})
            wlines.append(_dumps(rec) + "\n")
            wf_refs.append((wid, t0, wname))
            a = wf_agg.setdefault(wname if wname in WORKFLOW_NAMES else "custom", [0, 0, 0.0])
            a[0] += 1
            a[1] += ok
            a[2] += total
            if r.random() < p_steps:
                t = t0
                for k in range(nsteps):
                    sname = STEP_NAMES[k % len(STEP_NAMES)]
                    t1 = t + dt.timedelta(seconds=step_durs[k])
                    failed = (not ok) and k == nsteps - 1
                    gate = sname in ("review", "test", "security", "evaluate")
                    retries = _between(r, 1, 3) if r.random() < (0.5 if failed else 0.12) else 0
                    if not error_emitted and k == nsteps - 1:
                        retries = max(retries, 1)  # so that even tiny outputs carry an error text
                    srec = {
                        "execution_id": f"{wid}-s{k + 1:02d}",
                        "workflow_id": wid,
                        "step_id": f"step-{k + 1}-{sname}",
                        "command": f"*{sname}",
                        "status": "failed" if failed else ("skipped" if r.random() < 0.04 else "completed"),
                        "duration_ms": int(step_durs[k] * 1000),
                        "started_at": t.replace(tzinfo=_UTC).isoformat(),
                        "completed_at": t1.replace(tzinfo=_UTC).isoformat(),
                        "retry_count": retries,
                        "error_message": (pl.say(_T_ERROR, _T_ERROR_F, force=True if not error_emitted else None)
                                          if failed or retries else None),
                        "skill": roles[k % len(roles)][0],
                        "gate_pass": (not failed) if gate else None,
                    }
                    slines.append(_dumps(srec) + "\n")
                    error_emitted = error_emitted or srec["error_message"] is not None
                    t = t1
                n_steps_total += nsteps
        per_day_w[ds] = m
        wrel = f"analytics/history/workflows-{ds}.jsonl"
        if ctx.damaged_on and di == 0:
            bad = {"workflow_id": f"wf-{day.strftime('%Y%m%d')}-235959-dead", "workflow_name": "quick-fix",
                   "duration": "fast", "steps": 3, "success": True, "timestamp": f"{ds}T12:00:00.000001"}
            wlines.insert(len(wlines) // 2, _dumps(bad) + "\n")
            ctx.damage(wrel)
        with open(hist / f"workflows-{ds}.jsonl", "w", encoding="utf-8", newline="\n") as fh:
            fh.write("".join(wlines))
        if slines:
            (root / "metrics").mkdir(exist_ok=True)
            with open(root / "metrics" / f"executions_{ds}.jsonl", "w", encoding="utf-8", newline="\n") as fh:
                fh.write("".join(slines))

    ctx.counts["workflow_events"] = sum(per_day_w.values())
    ctx.counts["step_executions"] = n_steps_total
    return per_day_w, wf_refs, wf_agg


def _write_metrics_snapshot(ctx: _Ctx, root: Path, agents: dict, wf_agg: dict) -> None:
    """analytics/metrics.json: aggregated snapshot over the whole period."""
    s = ctx.scale
    end = s.start + dt.timedelta(days=s.days)
    workflows = {name: {"workflow_name": name, "total_executions": a[0], "successful_executions": a[1],
                        "average_duration": round(a[2] / a[0], 3), "success_rate": round(a[1] / a[0], 4)}
                 for name, a in sorted(wf_agg.items())}
    snapshot = {"timestamp": f"{end.isoformat()}T00:00:00Z",
                "period": {"start": s.start.isoformat(), "end": end.isoformat()},
                "agents": agents, "workflows": workflows,
                "system": {"hostname": HOSTS[0], "hardware_profile": "workstation",
                           "total_agent_executions": ctx.counts["agent_events"],
                           "total_workflow_executions": ctx.counts["workflow_events"],
                           "cpu_count": 8, "memory_gb": 32}}
    ctx.plant("host", HOSTS[0])
    (root / "analytics" / "metrics.json").write_text(json.dumps(snapshot, indent=2) + "\n", encoding="utf-8")


def _metric(r: random.Random) -> dict:
    return {"success_rate": round(r.uniform(0.55, 0.98), 4), "average_duration": round(r.uniform(2, 60), 3),
            "quality_score": round(r.uniform(0.5, 0.95), 4), "usage_count": _between(r, 1, 400)}


def _write_capabilities(ctx: _Ctx, root: Path, caps, pattern_heads, gz: bool) -> None:
    s = ctx.scale
    r = ctx.rng("capabilities")
    pl = _Planter(ctx, ctx.rng("capabilities-text"), 11, rate=0.25)
    fh, handles = _open_snapshot(root / "capabilities" / "capabilities.json", gz)
    fh.write('{"version": "1.0", "hardware_profile": "workstation", "metrics": [\n')
    span = s.days * 86400
    t_base = dt.datetime(s.start.year, s.start.month, s.start.day, tzinfo=_UTC)
    n_ref = 0
    for i, (cid, role) in enumerate(caps):
        hist = []
        cur = _metric(r)
        times = sorted(r.random() * span for _ in range(_pick(r, (0, 1, 1, 2, 3))))
        for x in times:
            before = dict(cur)
            if r.random() < 0.4:
                after = dict(before)
                pct = 0.0
            else:
                after = _metric(r)
                after["usage_count"] = before["usage_count"] + _between(r, 1, 60)
                pct = round((after["success_rate"] - before["success_rate"]) / before["success_rate"] * 100, 2)
            cur = after
            t = t_base + dt.timedelta(seconds=x)
            meta: dict = {}
            if pl.wants():
                meta = {"file": pl.path(), "trigger": pl.say(_T_DESC, _T_DESC_F)}
            elif r.random() < 0.3:
                meta = {"reason": pl.say(_T_LEARN, _T_LEARN_F, force=False)}
            hist.append({
                "timestamp": t.isoformat() if r.random() < 0.8 else t.isoformat().replace("+00:00", "Z"),
                "improvement_type": _pick(r, ("prompt_optimization", "pattern_learning", "feedback_loop")),
                "before_metric": before, "after_metric": after, "improvement_percent": pct,
                "learned_patterns": [h[0] for h in r.sample(pattern_heads, min(len(pattern_heads), _between(r, 0, 2)))],
                "metadata": meta,
            })
        n_ref += len(hist)
        last = hist[-1]["timestamp"] if hist else (t_base + dt.timedelta(seconds=r.random() * span)).isoformat()
        meta = {}
        if r.random() < 0.35:
            meta = {"owner": _pick(r, EMAILS), "workspace": pl.path()}
            ctx.plant("email", meta["owner"])
        elif r.random() < 0.2:
            meta = {"notes": pl.say(_T_LEARN, _T_LEARN_F)}
        rec = {"capability_id": cid, "agent_id": role, "success_rate": cur["success_rate"],
               "average_duration": cur["average_duration"], "quality_score": cur["quality_score"],
               "usage_count": cur["usage_count"], "last_improved": last, "refinement_history": hist,
               "metadata": meta}
        fh.write(("  " if i == 0 else ",\n  ") + _dumps(rec))
    fh.write("\n]}\n")
    _close_all(handles)
    ctx.counts["capabilities"] = len(caps)
    ctx.counts["refinements"] = n_ref


def _write_memories(ctx: _Ctx, root: Path, tasks, pattern_heads, gz: bool) -> None:
    r = ctx.rng("memories")
    pl = _Planter(ctx, ctx.rng("memories-text"), 0, rate=0.2)
    roles = [role for role, _ in _roles(ctx.scale)]
    fh, handles = _open_snapshot(root / "memory" / "memories.json", gz)
    fh.write("[\n")
    outcomes = ("success", "failure", "partial", "timeout", "error")
    for i, (tid, day) in enumerate(tasks):
        role = _pick(r, roles)
        agent_id = role
        if r.random() < 0.05:
            agent_id = f"{role}-{_pick(r, USERS)}"
            ctx.plant("user", agent_id.split("-", 1)[1])
        t = _at(day, _day_seconds(r))
        if r.random() < 0.5:
            t = t.replace(microsecond=0)
        ctx_obj: dict = {"file": pl.path(), "description": pl.say(_T_DESC, _T_DESC_F)}
        x = r.random()
        if x < 0.15:  # split across fields
            ui = _below(r, len(USERS))
            ctx_obj.update({"user": USERS[ui], "host": HOSTS[ui], "cwd": f"/home/{USERS[ui]}",
                            "relpath": f"{PROJECTS[ui]}/src/{_pick(r, MODULES)}.py"})
            ctx.plant("user", USERS[ui])
            ctx.plant("host", HOSTS[ui])
            ctx.plant("path", f"/home/{USERS[ui]}")
            ctx.plant("project", PROJECTS[ui])
        elif x < 0.3:
            ctx_obj["command_line"] = f"tapps-agents {role} {_pick(r, COMMANDS[role])} --file {pl.path()}"
        meta: dict = {}
        if r.random() < 0.25:
            meta = {"session_id": str(uuid.UUID(int=r.getrandbits(128), version=4)),
                    "hostname": _pick(r, HOSTS), "duration_s": round(r.uniform(1, 600), 2)}
            ctx.plant("host", meta["hostname"])
        rec = {
            "task_id": tid, "agent_id": agent_id, "command": _pick(r, COMMANDS[role]),
            "timestamp": t.isoformat(), "outcome": r.choices(outcomes, (62, 12, 15, 5, 6))[0],
            "quality_score": round(r.uniform(0.3, 0.98), 3),
            "key_learnings": [pl.say(_T_LEARN, _T_LEARN_F) for _ in range(_between(r, 1, 2))],
            "patterns_used": [h[0] for h in r.sample(pattern_heads, min(len(pattern_heads), _between(r, 0, 3)))],
            "similar_tasks": sorted({tasks[_below(r, i)][0] for _ in range(_between(r, 0, 3))}) if i else [],
            "context": ctx_obj, "metadata": meta,
        }
        fh.write(("  " if i == 0 else ",\n  ") + _dumps(rec))
    fh.write("\n]\n")
    _close_all(handles)
    ctx.counts["memories"] = len(tasks)


def _snippet(r: random.Random, pl: _Planter, ptype: str, name: str) -> str:
    if ptype == "function":
        body = _pick(r, (
            "    for attempt in range(retries):\n        try:\n            return self.client.post(payload)\n"
            "        except TimeoutError:\n            time.sleep(2 ** attempt)\n    raise",
            "    if not payload:\n        raise ValueError(\"empty payload\")\n    return {k: v for k, v in payload.items() if v}",
            "    with open(path, encoding=\"utf-8\") as fh:\n        return json.load(fh)",
        ))
        secret = ""
        if pl.wants() and r.random() < 0.5:
            which = _pick(r, ("key", "url", "path", "pem"))
            if which == "key":
                secret = f"    api_key = \"{API_KEYS[0]}\"  # TODO move to vault\n"
                pl.ctx.plant("api_key", API_KEYS[0])
            elif which == "url":
                secret = f"    dsn = \"{URLS_WITH_PASSWORD[1]}\"\n"
                pl.ctx.plant("url_password", URLS_WITH_PASSWORD[1])
                pl.ctx.plant("url_password", URL_PASSWORDS[1])
                pl.ctx.plant("ip", IPS[0])
            elif which == "path":
                secret = f"    path = r\"{PATHS[1]}\"\n"
                pl.ctx.plant("path", PATHS[1])
                pl.ctx.plant("user", "quenfrey")
            else:
                secret = f"    PRIVATE_KEY = \"\"\"{PEM_BLOCK}\"\"\"\n"
                for line in _PEM_LINES:
                    pl.ctx.plant("private_key", line)
        if name in PLANTED_FUNCS:
            pl.ctx.plant("code", f"def {name}(")
        return f"def {name}(self, payload, *, retries=3):\n    \"\"\"Generated helper.\"\"\"\n{secret}{body}"
    if ptype == "class":
        if name in PLANTED_CLASSES:
            pl.ctx.plant("code", f"class {name}(")
        return (f"class {name}(Base):\n    def __init__(self, client, *, timeout=30):\n"
                f"        self.client = client\n        self.timeout = timeout\n")
    if ptype == "import":
        mod = name.replace("_", ".") if name.replace("_", ".") in PLANTED_MODULES else name
        if mod in PLANTED_MODULES:
            pl.ctx.plant("code", f"import {mod}")
        return f"import {mod}\nfrom {mod} import *  # noqa: F403" if r.random() < 0.2 else f"import {mod}"
    return _pick(r, (
        "try:\n    result = op()\nexcept (TimeoutError, ConnectionError):\n    result = fallback()",
        "with lock:\n    state.update(delta)",
        "if not user:\n    return None",
        "results = await asyncio.gather(*tasks, return_exceptions=True)",
    ))


def _write_patterns(ctx: _Ctx, root: Path, pattern_heads, tasks) -> None:
    r = ctx.rng("patterns")
    pl = _Planter(ctx, ctx.rng("patterns-text"), 17, rate=0.2)
    rel = "learning/patterns.jsonl"
    slash_escaped_done = False
    with _Lines(root / rel) as out:
        for pid, ptype, name in pattern_heads:
            anti = r.random() < 0.1
            meta: dict = {}
            if r.random() < 0.4:
                meta = {"language": "python", "source_file": pl.path(), "line": _between(r, 1, 900),
                        "extracted_at": _ts(_at(_pick(r, tasks)[1] if tasks else ctx.scale.start,
                                                _day_seconds(r)))}
            rec = {
                "pattern_id": pid, "pattern_type": ptype, "code_snippet": _snippet(r, pl, ptype, name),
                "context": pl.say(_T_DESC, _T_DESC_F), "quality_score": round(r.uniform(0.3, 0.97), 3),
                "usage_count": _between(r, 0, 60), "success_rate": round(r.uniform(0.4, 1.0), 3),
                "learned_from": sorted({_pick(r, tasks)[0] for _ in range(_between(r, 1, 3))}) if tasks else [],
                "metadata": meta, "security_score": round(r.uniform(2 if anti else 6, 10), 1),
                "is_anti_pattern": anti,
                "failure_reasons": [pl.say(_T_REASON, _T_REASON_F) for _ in range(_between(r, 1, 2))] if anti else [],
                "rejection_count": _between(r, 1, 9) if anti else 0,
            }
            line = _dumps(rec)
            if not slash_escaped_done and "/home/" in line:
                # Some writers escape '/' as '\/': same JSON value, different bytes.
                line = line.replace("/", "\\/")
                slash_escaped_done = True
            out.add(line + "\n")
        ctx.counts["patterns"] = len(pattern_heads)
        if ctx.damaged_on:
            partial = _dumps({"pattern_id": "func_charge_999", "pattern_type": "function",
                              "code_snippet": "def charge(self, amount):\n    return self.client.post(amount)",
                              "context": "payments client retry", "quality_score": 0.5})
            out.add(partial[: len(partial) * 3 // 5])  # crash mid-append: no newline, cut JSON
            ctx.damage(rel)


def _write_outcomes(ctx: _Ctx, root: Path, wf_refs) -> None:
    r = ctx.rng("outcomes")
    pl = _Planter(ctx, ctx.rng("outcomes-text"), 23, rate=0.3)
    n = ctx.scale.outcomes
    roles = [role for role, _ in _roles(ctx.scale)]
    hashes = [hashlib.sha256(f"prompt/{ctx.seed}/{k}".encode()).hexdigest()[:16]
              for k in range(max(1, n // 4))]
    rel = "learning/outcomes.jsonl"
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    bad_at = n // 2 if ctx.damaged_on else -1
    with open(path, "wb") as fh:
        buf: list[bytes] = []
        for i in range(n):
            if i == bad_at:
                # A UTF-16 fragment: not UTF-8, and not JSON however it is decoded.
                buf.append(b"\xff\xfe" + '{"workflow_id": "wf-0000", "file_path": "'.encode("utf-16-le") + b"\n")
                ctx.damage(rel)
            if wf_refs:
                wid, t0, _ = wf_refs[_below(r, len(wf_refs))]
            else:
                wid, t0 = f"wf-{i:04x}", _at(ctx.scale.start, 43200)
            ttc = round(r.lognormvariate(math.log(300), 0.8), 3)
            t = t0 + dt.timedelta(seconds=ttc)
            if t.date() != t0.date():
                t = t0
            init = {"overall": round(r.uniform(40, 85), 1), "security": round(r.uniform(4, 9), 1),
                    "maintainability": round(r.uniform(4, 9), 1)}
            fin = {k: round(min(v * r.uniform(1.0, 1.3), 100.0 if k == "overall" else 10.0), 1)
                   for k, v in init.items()}
            iters = _between(r, 1, 5)
            ph = hashes[_below(r, len(hashes))]
            ctx.plant("prompt_hash", ph)
            rec = {"workflow_id": wid, "file_path": pl.path(), "initial_scores": init, "final_scores": fin,
                   "iterations": iters,
                   "expert_consultations": [e for e, _ in r.sample(EXPERTS, _between(r, 0, 3))],
                   "time_to_correctness": ttc, "first_pass_success": iters == 1,
                   "timestamp": _ts(t), "agent_id": _pick(r, roles), "prompt_hash": ph}
            if "expert-acmesecretproj-billing" in rec["expert_consultations"]:
                ctx.plant("project", "acmesecretproj")
            buf.append(_dumps(rec).encode("ascii") + b"\n")
            if len(buf) >= 4096:
                fh.write(b"".join(buf))
                buf.clear()
        fh.write(b"".join(buf))
    ctx.counts["outcomes"] = n


def _write_experts(ctx: _Ctx, root: Path, tasks, caps) -> None:
    r = ctx.rng("experts")
    pl = _Planter(ctx, ctx.rng("experts-text"), 29, rate=0.25)
    n = max(6, ctx.scale.memories // 4)
    roles = [role for role, _ in _roles(ctx.scale)]
    conf = []
    with _Lines(root / "learning" / "expert_performance.jsonl") as out:
        for i in range(n):
            tid, day = tasks[_below(r, len(tasks))] if tasks else ("task-none", ctx.scale.start)
            cid = caps[_below(r, len(caps))][0] if caps else "none"
            expert, domain = _pick(r, EXPERTS)
            query = f"[{tid}] {cid}: {pl.say(_T_DESC, _T_DESC_F)}"
            t = _at(day, _day_seconds(r))
            c = round(r.uniform(0.35, 0.97), 3)
            out.add(_dumps({"expert_id": expert, "domain": domain, "confidence": c, "query": query,
                            "timestamp": _ts(t)}) + "\n")
            thr = _pick(r, (0.6, 0.7, 0.75, 0.8))
            conf.append({"timestamp": _ts(t + dt.timedelta(milliseconds=_between(r, 5, 900))),
                         "agent_id": _pick(r, roles), "domain": domain, "confidence": c,
                         "threshold": thr, "meets_threshold": c >= thr,
                         "agreement_level": round(r.uniform(0.4, 1.0), 3),
                         "num_experts": _between(r, 1, 4), "primary_expert": expert,
                         "query_preview": query[:100]})
    with open(root / "confidence_metrics.json", "w", encoding="utf-8", newline="\n") as fh:
        fh.write('{"metrics": [\n')
        fh.write(",\n".join("  " + _dumps(c) for c in conf))
        fh.write("\n]}\n")
    ctx.counts["expert_performance"] = n
    ctx.counts["confidence_metrics"] = len(conf)


def _write_prompts(ctx: _Ctx, root: Path, tasks) -> dict[str, list[str]]:
    r = ctx.rng("prompts")
    pl = _Planter(ctx, ctx.rng("prompts-text"), 31, rate=0.5)
    s = ctx.scale
    per_type = 2 if s.memories <= 200 else (5 if s.memories <= 20_000 else 10)
    roles = [role for role, _ in _roles(s)]
    versions: dict[str, list[str]] = {}
    n = 0
    for ptype in ("eval", "system", "instructions"):
        d = root / "learned-prompts" / ptype
        d.mkdir(parents=True, exist_ok=True)
        prev = None
        for k in range(per_type):
            t = _at(s.start + dt.timedelta(days=(k * s.days) // per_type), 8 * 3600 + r.random() * 10 * 3600)
            version = t.strftime("%Y%m%d_%H%M%S")
            while version in versions.get(ptype, []):
                t += dt.timedelta(seconds=1)
                version = t.strftime("%Y%m%d_%H%M%S")
            versions.setdefault(ptype, []).append(version)
            role = _pick(r, roles)
            body = "\n".join([
                f"You are the {role} agent for the project at {pl.path()}.",
                "Rules learned from past sessions:",
                *[f"- {pl.say(_T_LEARN, _T_LEARN_F)}" for _ in range(3)],
                f"Escalate to {_pick(r, EMAILS)} when unsure.",
            ])
            for e in EMAILS:
                if e in body:
                    ctx.plant("email", e)
            obj = {"prompt_type": ptype, "agent_name": role, "version": version, "parent_version": prev,
                   "prompt": body,
                   "examples": [{"input": pl.say(_T_DESC, _T_DESC_F), "output": pl.say(_T_LEARN, _T_LEARN_F)}],
                   "score": round(r.uniform(0.6, 0.95), 3),
                   "learned_from": sorted({_pick(r, tasks)[0] for _ in range(2)}) if tasks else []}
            fname = f"{ptype}_{version}.json"
            obj["_metadata"] = {"saved_at": _ts(t), "version": version, "prompt_type": ptype,
                                "file": f"/home/zorblatt/acmesecretproj/.tapps-agents/learned-prompts/{ptype}/{fname}"}
            ctx.plant("path", "/home/zorblatt/acmesecretproj/.tapps-agents")
            (d / fname).write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            prev = version
            n += 1
    ctx.counts["learned_prompts"] = n
    return versions


def _write_feedback(ctx: _Ctx, root: Path, wf_refs, versions) -> None:
    r = ctx.rng("feedback")
    pl = _Planter(ctx, ctx.rng("feedback-text"), 37, rate=0.4)
    s = ctx.scale
    roles = [role for role, _ in _roles(s)]
    d = root / "feedback"
    d.mkdir(parents=True, exist_ok=True)
    n_ts = min(400, max(3, s.memories // 12))
    n_uuid = min(300, max(2, s.memories // 16))
    all_versions = [f"{p}_{v}" for p, vs in sorted(versions.items()) for v in vs]
    used_names: set[str] = set()
    for i in range(n_ts):
        wid, t0, _ = wf_refs[_below(r, len(wf_refs))] if wf_refs else ("wf-none", _at(s.start, 36000), "")
        t = t0 + dt.timedelta(seconds=r.uniform(30, 900), microseconds=_between(r, 1, 999_999))
        if t.date() != t0.date():
            t = t0 + dt.timedelta(microseconds=_between(r, 1, 999))
        fname = f"feedback_{t.strftime('%Y%m%d_%H%M%S_%f')}.json"
        while fname in used_names:
            t += dt.timedelta(microseconds=1)
            fname = f"feedback_{t.strftime('%Y%m%d_%H%M%S_%f')}.json"
        used_names.add(fname)
        role = _pick(r, roles)
        user = _pick(r, USERS)
        ctx.plant("user", user)
        rec = {"id": str(uuid.UUID(int=r.getrandbits(128), version=4)), "agent_name": role,
               "command": _pick(r, COMMANDS[role]),
               "prompt_version_id": _pick(r, all_versions) if all_versions and r.random() < 0.8 else None,
               "accepted": r.random() < 0.7, "feedback_text": pl.say(_T_FEEDBACK, _T_FEEDBACK_F),
               "timestamp": _ts(t),
               "metadata": {"target_file": pl.path(), "workflow_id": wid, "session_user": user},
               "_metadata": {"saved_at": _ts(t + dt.timedelta(milliseconds=_between(r, 1, 50))),
                             "file": f"/home/zorblatt/acmesecretproj/.tapps-agents/feedback/{fname}"}}
        ctx.plant("path", "/home/zorblatt/acmesecretproj/.tapps-agents")
        (d / fname).write_text(json.dumps(rec, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for i in range(n_uuid):
        wid, t0, wname = wf_refs[_below(r, len(wf_refs))] if wf_refs else ("wf-none", _at(s.start, 36000), "")
        fid = str(uuid.UUID(int=r.getrandbits(128), version=4))
        t = t0 + dt.timedelta(seconds=r.uniform(60, 1200), microseconds=_between(r, 1, 999_999))
        if t.date() != t0.date():
            t = t0
        proj = _pick(r, PROJECTS)
        ctx.plant("project", proj)
        rec = {"feedback_id": fid, "timestamp": _ts(t) + "Z",
               "performance_ratings": {"overall": _between(r, 1, 5), "accuracy": _between(r, 1, 5),
                                       "speed": _between(r, 1, 5)},
               "suggestions": [pl.say(_T_FEEDBACK, _T_FEEDBACK_F) for _ in range(_between(r, 1, 3))],
               "context": {"workflow_id": wid, "agent_id": _pick(r, roles),
                           "task_type": wname.split(" ")[0].rstrip(":") if wname in WORKFLOW_NAMES else "custom",
                           "timestamp": _ts(t0)},
               "metrics": {"execution_time_seconds": round(r.uniform(5, 1800), 2),
                           "quality_score": round(r.uniform(50, 98), 1),
                           "code_lines_processed": _between(r, 10, 5000),
                           "additional": {"host": _pick(r, HOSTS)} if r.random() < 0.4 else {}},
               "project_id": proj}
        if rec["metrics"]["additional"]:
            ctx.plant("host", rec["metrics"]["additional"]["host"])
        (d / f"feedback-{fid}.json").write_text(json.dumps(rec, indent=2) + "\n", encoding="utf-8")
    ctx.counts["feedback"] = n_ts + n_uuid


def _roles(scale: Scale) -> list[tuple[str, float]]:
    if scale.agent_events_per_day < 200:
        return [(role, float(w)) for role, w in SMALL_ROLES]
    # Zipf-like weights over all fourteen roles.
    order = ("implementer", "reviewer", "tester", "planner", "debugger", "architect", "orchestrator",
             "documenter", "analyst", "enhancer", "evaluator", "improver", "designer", "ops")
    return [(role, 100.0 / (k + 1) ** 0.8) for k, role in enumerate(order)]


_OWNED_GLOBS = ("capabilities/capabilities.json", "capabilities/capabilities.json.gz",
                "memory/memories.json", "memory/memories.json.gz", "learning/patterns.jsonl",
                "learning/outcomes.jsonl", "learning/expert_performance.jsonl",
                "analytics/history/agents-*.jsonl", "analytics/history/workflows-*.jsonl",
                "analytics/metrics.json", "confidence_metrics.json", "feedback/feedback_*.json",
                "feedback/feedback-*.json", "learned-prompts/*/*.json", "metrics/executions_*.jsonl")


def generate(root: Path, scale: Scale = Scale(), *, seed: int = 7, damaged: bool = True,
             gzip_snapshots: bool = False) -> GeneratedData:
    """Write a `.tapps-agents/` directory at `root` (created; files this generator owns are replaced)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for pattern in _OWNED_GLOBS:
        for p in root.glob(pattern):
            if p.is_file():
                p.unlink()
    ctx = _Ctx(scale, seed, damaged)
    roles = _roles(scale)
    role_names = [role for role, _ in roles]

    caps = _capability_ids(ctx, scale.capabilities, role_names)
    heads = _pattern_heads(ctx, scale.patterns)
    tasks = _task_ids(ctx, scale.memories)

    # Agent history is the bulk of the work at large scales: write it in a second process while
    # this one writes everything else. Output is identical either way (independent RNG streams).
    pool = future = None
    if scale.agent_events_per_day * scale.days >= PARALLEL_MIN_AGENT_EVENTS:
        try:
            pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            future = pool.submit(_second_half, str(root), scale, seed, damaged)
        except (OSError, RuntimeError, ValueError):
            pool = future = None
    try:
        per_day_w, wf_refs, wf_agg = _write_workflow_history(ctx, root, roles)
        _write_capabilities(ctx, root, caps, heads, gzip_snapshots)
        _write_memories(ctx, root, tasks, heads, gzip_snapshots)
        _write_outcomes(ctx, root, wf_refs)
        _write_experts(ctx, root, tasks, caps)
        versions = _write_prompts(ctx, root, tasks)
        _write_feedback(ctx, root, wf_refs, versions)
        half = None
        if future is not None:
            try:
                half = future.result()
            except Exception:  # a broken pool (e.g. no way to spawn): do that part here instead
                half = None
        if half is None:
            half = _second_half(str(root), scale, seed, damaged)
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    for part in half:
        for kind, values in part["planted"].items():
            for value in values:
                ctx.plant(kind, value)
        for rel, n in part["damaged"].items():
            ctx.damage(rel, n)
        ctx.used_fragments.update(part["used"])
        ctx.counts.update(part["counts"])
    agent = half[0]
    per_day_a = agent["per_day"]
    _write_metrics_snapshot(ctx, root, agent["agents"], wf_agg)

    order = ("capabilities", "refinements", "memories", "patterns", "outcomes", "agent_events",
             "workflow_events", "expert_performance", "confidence_metrics", "feedback",
             "step_executions", "learned_prompts")
    counts = {k: ctx.counts.get(k, 0) for k in order}
    planted = {k: list(v) for k, v in sorted(ctx.planted.items())}
    return GeneratedData(root=root, planted=planted, counts=counts, agent_events_per_day=per_day_a,
                         workflow_events_per_day=per_day_w, damaged=dict(sorted(ctx.damaged.items())))


def _disk_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.generator",
                                 description="Write a synthetic, seeded .tapps-agents/ directory.")
    ap.add_argument("out_dir", type=Path, help="the .tapps-agents directory to write")
    ap.add_argument("--scale", choices=sorted(SCALES), default="sample")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--days", type=int, default=None, help="override the scale's number of days")
    ap.add_argument("--no-damage", action="store_true", help="write no damaged lines")
    ap.add_argument("--gzip", action="store_true", help="write capabilities/memories snapshots as .json.gz")
    args = ap.parse_args(argv)
    scale = SCALES[args.scale]
    if args.days is not None:
        if args.days < 1:
            ap.error("--days must be >= 1")
        scale = dataclasses.replace(scale, days=args.days)
    t0 = time.perf_counter()
    data = generate(args.out_dir, scale, seed=args.seed, damaged=not args.no_damage,
                    gzip_snapshots=args.gzip)
    secs = time.perf_counter() - t0
    c = data.counts
    print(f"wrote {data.root} ({args.scale}, seed {args.seed}, {scale.days} days) in {secs:.1f}s, "
          f"{_disk_bytes(data.root) / 1e6:.1f} MB: {c['capabilities']} capabilities, {c['patterns']} patterns, "
          f"{c['memories']} memories, {c['outcomes']} outcomes, {c['agent_events']} agent events, "
          f"{c['workflow_events']} workflow events, {c['step_executions']} step executions, "
          f"{c['feedback']} feedback; {sum(data.damaged.values())} damaged lines; "
          f"{sum(map(len, data.planted.values()))} planted values in {len(data.planted)} kinds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
