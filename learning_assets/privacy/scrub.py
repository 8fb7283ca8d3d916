r"""Detectors for secrets, personal data, paths, code and identifiers in free text, and the scrubber
that replaces what they find with typed placeholders such as `<EMAIL>`.

Every detector is a compiled regular expression applied in a fixed order (most specific first), so
the same text always scrubs to the same result. Detectors only choose
the placeholder: the last step (`privacy.allowlist`) lets out nothing but allowed words, short numbers,
punctuation and placeholders, whatever the detectors missed.

Each detector has a trigger: an RE2 pattern, written by hand beside it, that `pyarrow.compute` runs over
all pending texts at once, so the Python regex runs only on the texts it flags. A trigger flags every
text its detector can match (it is the detector with lookarounds and anchors left out, or text every
match must contain) and is read against plain text only: `trigger` also flags any text holding a
character other than printable ASCII, tab, newline or carriage return, because Python's `\w`, `\d`,
`\s` and case-insensitive matching reach beyond ASCII where RE2's do not.
"""

from __future__ import annotations

import functools
import math
import re
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from learning_assets.privacy.allowlist import AllowList, may_change, normalize
from learning_assets.privacy.paths import GENERIC_DIRS, generalize_path
from learning_assets.privacy.rules import ROLES
from learning_assets.privacy.vocabulary import fixed_words
from learning_assets.privacy.wordlists import split_words

PLACEHOLDER = re.compile(r"<[A-Z_]+>")
# Any character outside printable ASCII, tab, newline and carriage return.
_UNUSUAL = r"[^\t\n\r\x20-\x7e]"
Trigger = str | Callable[[pa.Array], pa.Array]  # an RE2 pattern, or what flags an array's values at once


def trigger(*patterns: str) -> str:
    """One RE2 trigger: any of `patterns` (each written for plain ASCII text), or any other character."""
    return "|".join([_UNUSUAL, *(f"(?:{p})" for p in patterns)])


def to_arrow(values: list[str]) -> pa.Array | None:
    """The values as an Arrow array, or None when one cannot be UTF-8 (a lone surrogate from JSON)."""
    try:
        return pa.array(values, pa.large_string())
    except (pa.ArrowException, UnicodeError):
        return None


def flagged(array: pa.Array, trigger: Trigger) -> np.ndarray:
    """Positions of the values `trigger` flags."""
    mask = trigger(array) if callable(trigger) else pc.match_substring_regex(array, trigger)
    return np.flatnonzero(mask.to_numpy(zero_copy_only=False))


# (rule, placeholder, pattern, trigger): order matters, earlier rules see the text first.
_SECRET_WORD = r"(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|auth|credentials?)"
SECRET_RULES: list[tuple[str, str, re.Pattern, str]] = [
    ("private_key", "<PRIVATE_KEY>", re.compile(
        r"-----BEGIN[A-Z ]*PRIVATE KEY-----.*?(?:-----END[A-Z ]*PRIVATE KEY-----|\Z)", re.S), "-----BEGIN"),
    ("url_password", "<URL_WITH_PASSWORD>", re.compile(
        r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/:@<>\"']*:[^\s/@<>\"']+@[^\s<>\"']+"), "://"),
    ("jwt", "<JWT>", re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "eyJ"),
    ("aws_key", "<AWS_KEY>", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16}\b",
                                        re.I), "(?i)AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA"),
    ("github_token", "<GITHUB_TOKEN>", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,})"),
     "gh[pousr]_|github_pat_"),
    ("slack_token", "<SLACK_TOKEN>", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), "xox[abposr]-"),
    ("api_key", "<API_KEY>", re.compile(
        r"\b(?:sk|pk|rk)[-_](?:live_|test_|proj-)?[A-Za-z0-9_-]{16,}|\bAIza[0-9A-Za-z_-]{35}"),
     "[spr]k[-_][A-Za-z0-9_-]{16}|AIza"),
    # KEY=value and key: value where the key names a secret, prefixed or not (DB_PASSWORD=, api.secret:)
    ("assigned_secret", r"\1<SECRET>", re.compile(
        rf"(?i)((?<![A-Za-z0-9])(?:[A-Za-z0-9]+[_.-])*{_SECRET_WORD}(?:[_.-][A-Za-z0-9]+)*[\"']?\s*[:=]\s*[\"']?"
        r"|\bbearer\s+|\bbasic\s+)(?!<[A-Z_]+>)[^\s,;\"'<>]+"),
     rf"(?i){_SECRET_WORD}[\w.-]*[\"']?\s*[:=]|bearer\s|basic\s"),
    # --password X, --db-token=X, -p X (a short flag only right after a command word)
    ("flag_secret", r"\1<SECRET>", re.compile(
        rf"(?i)((?<![\w-])--?[\w-]*{_SECRET_WORD}[\w-]*(?:=|\s+)[\"']?|(?<![\w-])-p\s*[\"']?)(?!<[A-Z_]+>)(?!-)[^\s,;\"'<>]+"),
     rf"(?i)(?:^|[^\w-])-(?:-?[\w-]*{_SECRET_WORD}|p)"),
    # prose: "the password is X", "token was X", "pw: X"
    ("stated_secret", r"\1<SECRET>", re.compile(
        rf"(?i)(\b(?:{_SECRET_WORD}|pw|pin)\s+(?:is|was|=|:|set to|reads)\s+(?:now\s+|still\s+)?[\"'`]?)"
        r"(?!<[A-Z_]+>)[^\s,;\"'`<>]+"), rf"(?i)(?:{_SECRET_WORD}|pw|pin)\s+(?:is|was|=|:|set to|reads)\s"),
    # curl -u user:pass, --user user:pass
    ("user_password", r"\1<CREDENTIALS>", re.compile(r"((?<![\w-])(?:-u|--user)[\s=]+[\"']?)[^\s\"'<>]+"),
     r"(?:-u|--user)[\s=]"),
]
PII_RULES: list[tuple[str, str, re.Pattern, str]] = [
    ("email", "<EMAIL>", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), "@"),
    ("url", "<URL>", re.compile(r"\b(?:https?|ftp|wss?|ssh|git|s3|gs|redis|postgres(?:ql)?|mysql|mongodb(?:\+srv)?"
                                r"|amqp)://[^\s<>\"']+", re.I), "://"),
    # Commit trailers name people: the whole value goes
    ("trailer", r"\1<NAME>", re.compile(
        r"(?im)^(\s*(?:co-authored-by|signed-off-by|reviewed-by|reported-by|tested-by|acked-by|helped-by)\s*:\s*)"
        r"(?!<NAME>$).+$"), "(?i)(?:co-authored|signed-off|reviewed|reported|tested|acked|helped)-by"),
    ("ipv4", "<IP>", re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}\b(?!\.\d)"), r"(?:\d{1,3}\.){3}\d"),
    ("mac", "<MAC>", re.compile(r"(?<![\w:-])(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}(?![\w:-])"),
     "(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}"),
    ("ipv6", "<IP>", re.compile(
        r"(?<![\w:])(?=[0-9a-fA-F:]*[0-9a-fA-F])(?:[0-9a-fA-F]{1,4}:){1,7}:?(?::?[0-9a-fA-F]{1,4}){1,7}(?![\w:])"
        r"|(?<![\w:])::(?:[0-9a-fA-F]{1,4}:?){1,7}(?![\w:])"), "[0-9a-fA-F]:[0-9a-fA-F:]|::"),
    # Tracker and employee ids: ABC-1234, EMP-104233
    ("tracker_id", "<ID>", re.compile(r"(?<![\w-])[A-Z][A-Z0-9]{1,9}-\d{1,8}(?![\w-])"), r"[A-Z][A-Z0-9]{1,9}-\d"),
    ("national_id", "<NATIONAL_ID>", re.compile(
        r"(?<![\w-])(?:\d{3}-\d{2}-\d{4}|[A-CEGHJ-PR-TW-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D])(?![\w-])"),
     r"\d{3}-\d{2}-\d{4}|[A-CEGHJ-PR-TW-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]"),
    ("street_address", "<ADDRESS>", re.compile(
        r"\b\d{1,6}[A-Za-z]?\s+(?:[A-Z][\w'.-]*\s+){1,4}(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln"
        r"|Drive|Dr|Terrace|Court|Ct|Way|Place|Pl|Parkway|Pkwy|Square|Sq|Highway|Hwy|Circle|Cir|Strasse|Straße)\b\.?"
        r"(?:,?\s+(?:Apt|Suite|Unit|#)\.?\s*\w+)?"), r"\d[A-Za-z]?\s+[A-Z][\w'.-]*\s+[A-Z]"),
    ("handle", "<HANDLE>", re.compile(r"(?<![\w@./-])@[A-Za-z0-9](?:[\w-]{0,38})(?![\w@])"), "@[A-Za-z0-9]"),
    # Machine names by convention: words joined by dashes ending in a number (build-box-04).
    ("hostname", "<HOST>", re.compile(r"(?<![\w-])[a-z][a-z0-9]*(?:-[a-z0-9]+)+-\d{1,4}(?![\w-])", re.I),
     r"(?i)[a-z][a-z0-9]*(?:-[a-z0-9]+)+-\d"),
    ("phone", "<PHONE>", re.compile(
        r"(?<![\w-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?)?\d{3,4}[ .-]\d{3,4}(?:[ .-]\d{2,4})?(?![\w-])"),
     r"\d{3}[ .-]\d{3}"),
]
PATH_RULE = re.compile(
    r"(?:file://[^\s\"'<>]*"                                   # file:// URLs
    r"|\\\\[^\s\\\"'<>]+\\[^\s\"'<>]*"                         # UNC \\host\share\...
    r"|(?<![\w])[A-Za-z]:[\\/][^\s\"'<>]*"                     # C:\... or C:/...
    r"|(?<![\w.<>*])~[\w.-]*/[^\s\"'<>]*"                      # ~/... and ~user/...
    r"|(?<![\w.<>*/])/(?:[\w.@+-]+/)+[\w.@+-]*"                # /abs/olute/path
    r"|(?<![\w/<>*.-])[\w.-]+(?:[\\/][\w.-]+)+\.[A-Za-z0-9]{1,8}\b)"  # relative/path/file.ext
)
PATH_TRIGGER = (r"file://|\\\\|[A-Za-z]:[\\/]|~[\w.-]*/|/[\w.@+-]+/"
                r"|[\w.-]+(?:[\\/][\w.-]+)+\.[A-Za-z0-9]{1,8}")
# Identifiers the framework writes: pattern ids embed function names, workflow ids timestamps.
# The framework's agent roles; anything else in an agent id is a user or host name.
NOT_PSEUDONYM = r"(?![a-z]+_[0-9a-f]{16}\b)"
PSEUDONYM = re.compile(r"[a-z]+_[0-9a-f]{16}")
# (kind, pattern, trigger)
ID_RULES: list[tuple[str, re.Pattern, str]] = [
    ("task", re.compile(NOT_PSEUDONYM + r"\btask[-_][\w.-]*\d[\w.-]*"), r"task[-_][\w.-]*\d"),
    ("wf", re.compile(NOT_PSEUDONYM + r"\b(?:wf|workflow)[-_][\w.-]*[0-9a-f]{3,}[\w.-]*"),
     r"(?:wf|workflow)[-_][\w.-]*[0-9a-f]{3}"),
    ("pat", re.compile(NOT_PSEUDONYM + r"\b(?:pat|pattern|func|class|import|structure)[-_][\w.-]*\d\b"),
     r"(?:pat|pattern|func|class|import|structure)[-_][\w.-]*\d"),
    ("exec", re.compile(NOT_PSEUDONYM + r"\b(?:exec|execution|step|run)[-_][\w.-]*\d[\w.-]*"),
     r"(?:exec|execution|step|run)[-_][\w.-]*\d"),
    ("cap", re.compile(r"\b(?:%s)\.[A-Za-z0-9][\w-]*" % "|".join(ROLES)), r"(?:%s)\.[A-Za-z0-9]" % "|".join(ROLES)),
]
CODE_FENCE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]+`", re.S)
CODE_LINE = re.compile(
    r"^\s*(?:(?:async\s+)?def\s|class\s+\w|import\s+[\w.]|from\s+[\w.]+\s+import\s|return\b|raise\b"
    r"|try:|except\b|finally:|with\s.+:\s*$|if\s.+:\s*$|elif\s|else:|for\s.+\sin\s.+:\s*$|while\s.+:\s*$"
    r"|@\w[\w.]*|function\s+\w|const\s+\w|let\s+\w|var\s+\w|public\s|private\s|protected\s|#include"
    r"|package\s+\w|func\s+\w|fn\s+\w|self\.\w|\w+\s*=\s*.+\(.*\)\s*$|.*[;{}]\s*$)")
CODE_INLINE = re.compile(
    r"(?:\b(?:async\s+)?def\s+\w+\s*\([^)\n]*\)?:?"
    r"|\bclass\s+\w+\s*[:(][^)\n]*\)?:?"
    r"|\bfrom\s+[\w.]+\s+import\s+[\w.*]+(?:\s*,\s*[\w.]+)*"
    r"|\bimport\s+[a-z_][\w.]*(?:\s+as\s+\w+)?(?=\s*(?:$|[;\n]))"
    r"|\bimport\s+[a-z_]\w*(?:\.\w+)+"
    r"|\b(?:function|func|fn)\s+\w+\s*\([^)\n]*\)"
    r"|\b[\w.]+\([^()\n]*\)(?:\.[\w]+\([^()\n]*\))*"
    r"|\b" + NOT_PSEUDONYM + r"[a-z]+(?:_[a-z0-9]+)+\b"
    r"|\b[a-z]+[A-Z][A-Za-z0-9]*\b)")
# A line CODE_LINE matches at its start, or a match of CODE_INLINE, holds one of these.
CODE_TRIGGER = (
    r"def\s|class\s|import\s|from\s+[\w.]+\s+import\s|return|raise|try:|except|finally:|with\s.+:|if\s.+:"
    r"|elif\s|else:|for\s.+\sin\s.+:|while\s.+:|@\w|function\s|const\s+\w|let\s+\w|var\s+\w|public\s"
    r"|private\s|protected\s|#include|package\s+\w|func\s|fn\s|self\.\w|\w\s*=\s*.+\(.*\)|[;{}]"
    r"|[\w.]\(|[a-z]_[a-z0-9]|[a-z][A-Z]")
TOKEN = re.compile(r"[A-Za-z0-9+/_=.-]{15,}[A-Za-z0-9+/_=]")


def code_trigger(array: pa.Array) -> pa.Array:
    """`CODE_TRIGGER` read with the underscore of each keyed pseudonym left out: most scrubbed texts hold
    one, and the snake_case names `CODE_INLINE` removes never include a whole pseudonym."""
    return pc.match_substring_regex(pc.replace_substring_regex(array, r"\b([a-z]+)_([0-9a-f]{16})\b", r"\1\2"),
                                    trigger(CODE_TRIGGER))


# Cheap pre-filter: detect-secrets (~1 ms a line) only sees text with a keyword, a URL or a long
# mixed token (not a pseudonym). Its entropy plugins are left out: they flag ordinary words in free text.
_SECRET_KEYWORD = r"(?:pass|secret|token|key|auth|pwd|credential)\w*[\"']?\s*[:=]|://|private key"
_MIXED_TOKEN = (r"(?<![\w\-./+=])(?![a-z]+_[0-9a-f]{16}(?![\w\-./+=]))(?=[\w\-./+=]*\d)(?=[\w\-./+=]*[A-Za-z])"
                r"[\w\-./+=]{12,}")
SECRET_CANDIDATE = re.compile(f"(?i){_SECRET_KEYWORD}|{_MIXED_TOKEN}")
SECRET_CANDIDATE_TRIGGER = rf"(?i){_SECRET_KEYWORD}|[\w\-./+=]{{12}}"
ENTROPY_PLUGINS = frozenset({"Base64HighEntropyString", "HexHighEntropyString"})


@functools.lru_cache(maxsize=1)
def _detect_secrets_scanner():
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.core.scan import scan_line
    from detect_secrets.settings import cache_bust, configure_settings_from_baseline

    names = sorted({c.__name__ for c in get_mapping_from_secret_type_to_class().values()} - ENTROPY_PLUGINS)
    cache_bust()
    configure_settings_from_baseline({"plugins_used": [{"name": n} for n in names]})
    return scan_line


@functools.lru_cache(maxsize=1 << 16)
def detect_secrets_tokens(text: str) -> tuple[tuple[str, str], ...]:
    """(secret type, the whitespace-delimited token holding it) for what detect-secrets finds.

    Memoized: the export rescan asks again about texts the scrubber's last step already asked about.
    """
    if not SECRET_CANDIDATE.search(text):
        return ()
    scan_line = _detect_secrets_scanner()
    found = []
    for line in text.split("\n"):
        for secret in scan_line(line):
            value = secret.secret_value
            if value and not PLACEHOLDER.search(value):
                found += [(secret.type, token) for token in re.findall(r"\S*%s\S*" % re.escape(value), line)]
    return tuple(found)


def shannon_entropy(s: str) -> float:
    n = len(s)
    return -sum([c / n * math.log2(c / n) for c in Counter(s).values()])


_HEX = re.compile(r"[0-9a-fA-F]{16,}")


def is_high_entropy(token: str) -> bool:
    """Long mixed tokens that look random: hex digests, base64 keys, opaque tokens."""
    if PLACEHOLDER.fullmatch(token) or PSEUDONYM.fullmatch(token):
        return False
    if _HEX.fullmatch(token):
        return True
    if len(token) < 20:
        return False
    has_digit = any(map(str.isdigit, token))
    has_alpha = any(map(str.isalpha, token))
    return has_digit and has_alpha and shannon_entropy(token) >= 3.5


def _name_key(name: str) -> str:
    """A name's letters and digits, lowercase: how its spellings (`Acme-Proj`, `acme_proj`) are matched up."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass
class Vocabulary:
    """Names learned from the source itself (user, host and project names) that must never leave it."""

    users: set[str] = field(default_factory=set)
    hosts: set[str] = field(default_factory=set)
    projects: set[str] = field(default_factory=set)

    def _alternatives(self) -> str:
        """Every learned name: its words in order, any one separator between them (as RE2 reads it too)."""
        terms = sorted({t for group in (self.users, self.hosts, self.projects) for t in group}, key=len,
                       reverse=True)
        return "|".join("[^A-Za-z0-9]?".join(words) for t in terms if (words := re.findall(r"[A-Za-z0-9]+", t)))

    def pattern(self) -> re.Pattern | None:
        """Every learned name as a whole word."""
        alternatives = self._alternatives()
        if not alternatives:
            return None
        # letters only around a name: `1234567alice` still holds it once the digits are `<NUMBER>`
        return re.compile(r"(?<![A-Za-z])(?:%s)(?![A-Za-z])" % alternatives, re.I)

    def trigger(self) -> str | None:
        """The trigger of `pattern`: the names, wherever they are."""
        alternatives = self._alternatives()
        return trigger(f"(?i){alternatives}") if alternatives else None

    def kind_lookup(self) -> Callable[[str], str]:
        """The kind of a name as found in text, looked up in a table made once: a project before a user
        before a host; `user` when unsure."""
        kinds = {_name_key(name): kind for kind, group in (("host", self.hosts), ("user", self.users),
                                                           ("project", self.projects)) for name in group}
        return lambda term: kinds.get(_name_key(term), "user")

    def as_dict(self) -> dict:
        return {"users": sorted(self.users), "hosts": sorted(self.hosts), "projects": sorted(self.projects)}

    @classmethod
    def from_dict(cls, data: dict) -> Vocabulary:
        """The inverse of `as_dict` (missing groups are empty)."""
        return cls(*(set(data.get(k) or ()) for k in ("users", "hosts", "projects")))


_GENERIC_WORDS = frozenset({
    "home", "users", "user", "root", "src", "tmp", "var", "opt", "usr", "mnt", "workspace", "workspaces",
    "projects", "project", "code", "dev", "repos", "repo", "git", "documents", "desktop", "share",
    "shared", "localhost", "admin", "default", "public", "runner", "work", "data", "app", "build",
    "wiki", "www", "api", "mail", "jira", "confluence", "gitlab", "github", "internal", "corp", "local",
    "intra", "example", "test", "staging", "prod", "production",
}) | GENERIC_DIRS
MIN_NAME_CHARS = 4  # shorter learned names ("can", "bob") would also erase ordinary words
# Home and workspace directories: the user is the first segment after a home root, the project the first
# segment after it that is not a container such as `code`, `src` or `source/repos`.
_HOME = re.compile(r"(?i)(?:/home/|/Users/|\\Users\\|\\\\Users\\\\|/workspaces?/|~/|/root/)"
                   r"((?:[^\\/\s\"'<>:*?|]+(?: (?=[^\\/\s])[^\\/\s\"'<>:*?|]+)*)(?:(?:\\\\|[\\/])[^\\/\s\"'<>:*?|]+)*)")
CONTAINERS = frozenset({
    "code", "projects", "project", "src", "repos", "repo", "dev", "development", "workspace", "workspaces", "git",
    "github", "gitlab", "work", "documents", "desktop", "source", "sources", "sites", "go", "github.com",
    "gitlab.com", "bitbucket.org", "onedrive", "dropbox", "personal", "clients", "ws", "checkouts", "dev-projects",
})
_USER_AT_HOST = re.compile(r"(?<![\w.@-])([\w.-]{3,})@([\w-]{3,})(?![\w.@-])")
_UNC = re.compile(r"(?<!\\)\\\\([\w.-]{3,})\\")
_URL_HOST = re.compile(r"://(?:[^\s/@]+@)?([A-Za-z0-9._-]{3,})")
_AT_HOST = re.compile(r"^[\w.-]+@([A-Za-z0-9._-]{3,})$")
# The triggers of the patterns above; a string none of them flags cannot teach a name.
_NAME_TRIGGERS = {_HOME: r"(?i)/home/|/users/|\\users\\|/workspaces?/|~/|/root/", _UNC: r"\\\\",
                  _URL_HOST: "://", _USER_AT_HOST: "@"}
VOCABULARY_TRIGGER = trigger(*_NAME_TRIGGERS.values())


def learn_vocabulary(values: Iterable[str], agent_ids: Iterable[str] = (), roles: Iterable[str] = ()) -> Vocabulary:
    """Collect user, host and project names from home paths, UNC paths, URLs, `user@host` and agent ids
    such as `implementer-alice` or `reviewer@buildbox`."""
    role_words = {r.lower() for r in roles}
    vocab = Vocabulary()
    role_prefix = re.compile(r"^(?:%s)[-_@]([A-Za-z0-9._-]{3,})$" % "|".join(map(re.escape, roles))) if roles else None

    def keep(term: str | None, bucket: set[str]) -> None:
        """A name, unless it is only words every export holds anyway (`metrics`, `analytics`, `security`):
        those identify no project, and removing them would refuse the export's own strings."""
        if (term and term.lower() not in _GENERIC_WORDS and not term.isdigit() and len(term) >= MIN_NAME_CHARS
                and not split_words(term) <= fixed_words()):
            bucket.add(term)

    # One pass of each pattern over the values joined by newlines (none of them spans a line) is far
    # faster than a pass per value; values a pattern's trigger does not flag hold no match of it.
    values = [v for v in values if v]
    array = to_arrow(values)

    def text(rx: re.Pattern) -> str:
        return "\n".join(values if array is None else
                         [values[i] for i in flagged(array, trigger(_NAME_TRIGGERS[rx]))])

    for whole, rest in {(m.group(0), m.group(1)) for m in _HOME.finditer(text(_HOME))}:
        root = whole.lower()
        segments = [p for p in re.split(r"\\\\|[\\/]", rest) if p]
        if not root.startswith(("/workspace", "~", "/root")) and segments:
            keep(segments.pop(0), vocab.users)
        project = next((p for p in segments if p.lower() not in CONTAINERS and not p.startswith(".")), None)
        if project is not None and not re.search(r"\.[A-Za-z0-9]{1,8}$", project):
            keep(project, vocab.projects)
    for host in set(_UNC.findall(text(_UNC))):
        keep(host, vocab.hosts)
    for host in set(_URL_HOST.findall(text(_URL_HOST))):
        if host.count(".") >= 1 and re.search(r"\.(?:internal|local|corp|lan|intra|home)\b", host, re.I):
            for label in host.split(".")[:-1]:
                keep(label, vocab.hosts)
    for user, host in set(_USER_AT_HOST.findall(text(_USER_AT_HOST))):
        if user.lower() not in role_words:
            keep(user, vocab.users)
        keep(host, vocab.hosts)
    for agent_id in agent_ids:
        if m := _AT_HOST.match(agent_id):
            keep(m.group(1), vocab.hosts)
        elif role_prefix and (m := role_prefix.match(agent_id)):
            keep(m.group(1), vocab.users)
    return vocab


Step = Callable[[str, Counter], str]  # rewrites a text, counting each replacement by rule


def _substitution(rx: re.Pattern, when: str, repl: str | Callable[[re.Match], str], rule: str) -> tuple[Trigger, Step]:
    """(trigger, step) replacing every match of `rx` by `repl`, counted under `rule`; `when` is the
    detector's trigger pattern."""
    if isinstance(repl, str):
        template = repl
        repl = (lambda m: m.expand(template)) if "\\" in template else (lambda m: template)

    def step(s: str, counts: Counter) -> str:
        def one(m: re.Match) -> str:
            counts[rule] += 1
            return repl(m)
        return rx.sub(one, s)
    return trigger(when), step


# Text that is not plain printable ASCII or holds a percent-encoded character is normalized first.
_NORMALIZE_TRIGGER = r"[^\t\n\r\x20-\x7e]|%[0-9A-Fa-f]{2}"
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
# Digits written the way phone numbers are (+44 …, (312) …, 030 1234 5678, 312.555.0142); a run of digits
# written otherwise still leaves only as `<NUMBER>` (see `privacy.allowlist`).
_PHONE_TRIGGER = r"\+[0-9]|\([0-9]{2,5}\)|[0-9]{2,5} [0-9]{2,5}[ -][0-9]{2,5}|[0-9]{3}[.-][0-9]{3,4}[.-][0-9]{4}"


def _normalize(s: str, counts: Counter) -> str:
    """Unicode NFC and ASCII punctuation (see `normalize`); percent-encoded text decoded, so that a
    credential inside an encoded redirect URL meets the detectors."""
    if _PERCENT.search(s):
        s = urllib.parse.unquote(s)
    return normalize(s)


def _mask_phone_numbers(s: str, counts: Counter) -> str:
    """International and national phone numbers, as `phonenumbers` (Google's libphonenumber) finds them."""
    import phonenumbers

    for match in reversed(list(phonenumbers.PhoneNumberMatcher(s, "US"))):
        counts["pii.phone"] += 1
        s = s[:match.start] + "<PHONE>" + s[match.end:]
    return s


class Scrubber:
    """Scrubs free text; counts each replacement by rule. Memoized, since analytics text repeats.

    The rules run as a fixed sequence of steps, each with a trigger that flags every text the step could
    change. `scrub_many` runs each trigger over all pending texts at once in Arrow and the Python step
    only on the flagged ones; the result is exactly `scrub`'s.
    """

    def __init__(self, pseudonymize: Callable[[str, str], str], vocabulary: Vocabulary | None = None):
        self._pseudonymize = pseudonymize
        self.vocabulary = vocabulary or Vocabulary()
        self._vocab_rx = self.vocabulary.pattern()
        self._allow = AllowList(issued=getattr(pseudonymize, "issued", lambda token: False))
        kind_of = self.vocabulary.kind_lookup()
        self._names = (_substitution(self._vocab_rx, self.vocabulary.trigger(),
                                     lambda m: f"<{kind_of(m.group(0)).upper()}>", "pii.name")
                       if self._vocab_rx is not None else None)
        self._cache: dict[str, tuple[str, Counter]] = {}
        self._steps = self._build_steps()

    def scrub(self, text: str) -> tuple[str, Counter]:
        hit = self._cache.get(text)
        if hit is None:
            hit = self._cache[text] = self._scrub(text)
        return hit

    def scrub_many(self, texts: Iterable[str]) -> dict[str, tuple[str, Counter]]:
        """`scrub` of each distinct text, the Python steps run only where their trigger fires."""
        texts = dict.fromkeys(texts)
        pending = [t for t in texts if t not in self._cache]
        if pending:
            self._cache.update(self._scrub_flagged(pending))
        return {t: self._cache[t] for t in texts}

    def clean_message(self, text: str) -> str:
        """One of the project's own messages (a warning naming a source file): learned names removed and
        the allow-list applied, but no detector, which would turn the file names it cites into patterns."""
        counts: Counter = Counter()
        if self._names is not None:
            text = self._names[1](text, counts)
        return self._allow.clean(text, counts)

    def _scrub(self, text: str) -> tuple[str, Counter]:
        counts: Counter = Counter()
        s = text
        for _, step in self._steps:
            s = step(s, counts)
        return s, counts

    def _scrub_flagged(self, texts: list[str]) -> dict[str, tuple[str, Counter]]:
        """Each step over all texts: its trigger in one Arrow pass, then Python on the flagged ones."""
        array = to_arrow(texts)
        if array is None:
            return {t: self._scrub(t) for t in texts}
        current, counts = list(texts), [None] * len(texts)
        for trigger, step in self._steps:
            changed = {}
            for i in flagged(array, trigger).tolist():
                if counts[i] is None:
                    counts[i] = Counter()
                out = step(current[i], counts[i])
                if out != current[i]:
                    current[i] = changed[i] = out
            if changed:  # later triggers must see the text as it is now
                mask = np.zeros(len(texts), dtype=bool)
                mask[list(changed)] = True
                array = pc.replace_with_mask(array, mask, pa.array(list(changed.values()), pa.large_string()))
        return {t: (current[i], counts[i] if counts[i] is not None else Counter()) for i, t in enumerate(texts)}

    def _build_steps(self) -> list[tuple[Trigger, Step]]:
        """(trigger, step) in the fixed order: earlier rules see the text first; the allow-list comes last."""
        steps = [(_NORMALIZE_TRIGGER, _normalize), _substitution(CODE_FENCE, "`", "<CODE>", "code.block")]
        steps += [_substitution(rx, when, placeholder, f"secret.{rule}")
                  for rule, placeholder, rx, when in SECRET_RULES]
        # e-mail, URL and commit trailers, before paths see their slashes
        steps += [_substitution(rx, when, placeholder, f"pii.{rule}") for rule, placeholder, rx, when in PII_RULES[:3]]
        steps.append(_substitution(PATH_RULE, PATH_TRIGGER, lambda m: generalize_path(m.group(0)), "path"))
        steps += [_substitution(rx, when, lambda m, k=kind: self._pseudonymize_id(k, m.group(0)), f"id.{kind}")
                  for kind, rx, when in ID_RULES]
        steps.append((_PHONE_TRIGGER, _mask_phone_numbers))
        steps += [_substitution(rx, when, placeholder, f"pii.{rule}") for rule, placeholder, rx, when in PII_RULES[3:]]
        steps.append((code_trigger, self._remove_code))
        if self._names is not None:
            steps.append(self._names)
        steps.append((trigger(TOKEN.pattern), _mask_high_entropy))
        steps.append((trigger(SECRET_CANDIDATE_TRIGGER), _mask_detect_secrets))
        steps.append((may_change, self._allow.clean))
        return steps

    def _pseudonymize_id(self, kind: str, raw: str) -> str:
        """Sentence punctuation is not part of an id: `task-7.` keeps its full stop."""
        core = raw.rstrip(".-")
        return self._pseudonymize(kind, core) + raw[len(core):]

    @staticmethod
    def _remove_code(s: str, counts: Counter) -> str:
        lines = s.split("\n")
        if len(lines) > 1:
            kept, in_block = [], False
            for line in lines:
                if CODE_LINE.match(line) or (in_block and (line.startswith((" ", "\t")) or not line.strip())):
                    if not in_block:
                        counts["code.block"] += 1
                        kept.append("<CODE>")
                    in_block = True
                else:
                    in_block = False
                    kept.append(line)
            s = "\n".join(kept)
        elif CODE_LINE.match(s) and not PLACEHOLDER.fullmatch(s.strip()):
            counts["code.block"] += 1
            return "<CODE>"

        def inline(m: re.Match) -> str:
            counts["code.inline"] += 1
            return "<CODE>"
        return CODE_INLINE.sub(inline, s)


def _mask_high_entropy(s: str, counts: Counter) -> str:
    def entropy(m: re.Match) -> str:
        if is_high_entropy(m.group(0)):
            counts["secret.high_entropy"] += 1
            return "<SECRET>"
        return m.group(0)
    return TOKEN.sub(entropy, s)


def _mask_detect_secrets(s: str, counts: Counter) -> str:
    for kind, token in detect_secrets_tokens(s):
        counts["secret.detect_secrets." + re.sub(r"\W+", "_", kind.lower()).strip("_")] += 1
        s = s.replace(token, "<SECRET>")
    return s
