"""Detectors for secrets, personal data, paths, code and identifiers in free text, and the scrubber
that replaces what they find with typed placeholders such as `<EMAIL>`.

Every detector is a compiled regular expression applied in a fixed order (most specific first), so
the same text always scrubs to the same result and scrubbing twice changes nothing.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from learning_assets.paths import GENERIC_DIRS, generalize_path

PLACEHOLDER = re.compile(r"<[A-Z_]+>")

# (rule, placeholder, pattern): order matters, earlier rules see the text first.
SECRET_RULES: list[tuple[str, str, re.Pattern]] = [
    ("private_key", "<PRIVATE_KEY>", re.compile(
        r"-----BEGIN[A-Z ]*PRIVATE KEY-----.*?(?:-----END[A-Z ]*PRIVATE KEY-----|\Z)", re.S)),
    ("url_password", "<URL_WITH_PASSWORD>", re.compile(
        r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/:@<>\"']+:[^\s/@<>\"']+@[^\s<>\"']+")),
    ("jwt", "<JWT>", re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")),
    ("aws_key", "<AWS_KEY>", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16}\b",
                                        re.I)),
    ("github_token", "<GITHUB_TOKEN>", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,})")),
    ("slack_token", "<SLACK_TOKEN>", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("api_key", "<API_KEY>", re.compile(
        r"\b(?:sk|pk|rk)[-_](?:live_|test_|proj-)?[A-Za-z0-9_-]{16,}|\bAIza[0-9A-Za-z_-]{35}")),
    ("assigned_secret", r"\1<SECRET>", re.compile(
        r"(?i)\b((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|auth)\s*[:=]\s*[\"']?|bearer\s+)"
        r"(?!<[A-Z_]+>)[^\s,;\"'<>]{4,}")),
]
PII_RULES: list[tuple[str, str, re.Pattern]] = [
    ("email", "<EMAIL>", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")),
    ("url", "<URL>", re.compile(r"\b(?:https?|ftp|wss?|ssh|git)://[^\s<>\"']+", re.I)),
    ("ipv4", "<IP>", re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}\b(?!\.\d)")),
    ("ipv6", "<IP>", re.compile(r"(?<![\w:])(?:[0-9a-fA-F]{1,4}:){4,7}[0-9a-fA-F]{1,4}(?![\w:])")),
    # Machine names by convention: words joined by dashes ending in a number (build-box-04).
    ("hostname", "<HOST>", re.compile(r"(?<![\w-])[a-z][a-z0-9]*(?:-[a-z0-9]+)+-\d{1,4}(?![\w-])", re.I)),
    ("phone", "<PHONE>", re.compile(
        r"(?<![\w-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?)?\d{3,4}[ .-]\d{3,4}(?:[ .-]\d{2,4})?(?![\w-])")),
]
PATH_RULE = re.compile(
    r"(?:file://[^\s\"'<>]*"                                   # file:// URLs
    r"|\\\\[^\s\\\"'<>]+\\[^\s\"'<>]*"                         # UNC \\host\share\...
    r"|(?<![\w])[A-Za-z]:[\\/][^\s\"'<>]*"                     # C:\... or C:/...
    r"|(?<![\w.<>*])~[\w.-]*/[^\s\"'<>]*"                      # ~/... and ~user/...
    r"|(?<![\w.<>*/])/(?:[\w.@+-]+/)+[\w.@+-]*"                # /abs/olute/path
    r"|(?<![\w/<>*.-])[\w.-]+(?:[\\/][\w.-]+)+\.[A-Za-z0-9]{1,8}\b)"  # relative/path/file.ext
)
# Identifiers the framework writes: pattern ids embed function names, workflow ids timestamps.
# The framework's agent roles; anything else in an agent id is a user or host name.
ROLES = ("analyst", "architect", "debugger", "designer", "documenter", "enhancer", "evaluator",
         "implementer", "improver", "ops", "orchestrator", "planner", "reviewer", "tester")
NOT_PSEUDONYM = r"(?![a-z]+_[0-9a-f]{16}\b)"
PSEUDONYM = re.compile(r"[a-z]+_[0-9a-f]{16}")
ID_RULES: list[tuple[str, re.Pattern]] = [
    ("task", re.compile(NOT_PSEUDONYM + r"\btask[-_][\w.-]*\d[\w.-]*")),
    ("wf", re.compile(NOT_PSEUDONYM + r"\b(?:wf|workflow)[-_][\w.-]*[0-9a-f]{3,}[\w.-]*")),
    ("pat", re.compile(NOT_PSEUDONYM + r"\b(?:pat|pattern|func|class|import|structure)[-_][\w.-]*\d\b")),
    ("exec", re.compile(NOT_PSEUDONYM + r"\b(?:exec|execution|step|run)[-_][\w.-]*\d[\w.-]*")),
    ("cap", re.compile(r"\b(?:%s)\.[A-Za-z0-9][\w-]*" % "|".join(ROLES))),
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
TOKEN = re.compile(r"[A-Za-z0-9+/_=.-]{15,}[A-Za-z0-9+/_=]")


# Cheap pre-filter: detect-secrets (~1 ms a line) only sees text with a keyword, a URL or a long
# mixed token. Its entropy plugins are left out: they flag ordinary words in free text.
SECRET_CANDIDATE = re.compile(
    r"(?i)(?:pass|secret|token|key|auth|pwd|credential)\w*[\"']?\s*[:=]|://|private key"
    r"|(?<![\w\-./+=])(?![a-z]+_[0-9a-f]{16}(?![\w\-./+=]))(?=[\w\-./+=]*\d)(?=[\w\-./+=]*[A-Za-z])[\w\-./+=]{12,}")
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


def detect_secrets_tokens(text: str) -> list[tuple[str, str]]:
    """(secret type, the whitespace-delimited token holding it) for what detect-secrets finds."""
    if not SECRET_CANDIDATE.search(text):
        return []
    scan_line = _detect_secrets_scanner()
    found = []
    for line in text.split("\n"):
        for secret in scan_line(line):
            value = secret.secret_value
            if value and not PLACEHOLDER.search(value):
                found += [(secret.type, token) for token in re.findall(r"\S*%s\S*" % re.escape(value), line)]
    return found


def shannon_entropy(s: str) -> float:
    counts = Counter(s)
    return -sum(c / len(s) * math.log2(c / len(s)) for c in counts.values())


def is_high_entropy(token: str) -> bool:
    """Long mixed tokens that look random: hex digests, base64 keys, opaque tokens."""
    if PLACEHOLDER.fullmatch(token) or PSEUDONYM.fullmatch(token):
        return False
    if re.fullmatch(r"[0-9a-fA-F]{16,}", token):
        return True
    if len(token) < 20:
        return False
    has_digit = any(ch.isdigit() for ch in token)
    has_alpha = any(ch.isalpha() for ch in token)
    return has_digit and has_alpha and shannon_entropy(token) >= 3.5


@dataclass
class Vocabulary:
    """Names learned from the source itself (user, host and project names) that must never leave it."""

    users: set[str] = field(default_factory=set)
    hosts: set[str] = field(default_factory=set)
    projects: set[str] = field(default_factory=set)

    def pattern(self) -> re.Pattern | None:
        terms = sorted({t for group in (self.users, self.hosts, self.projects) for t in group}, key=len,
                       reverse=True)
        if not terms:
            return None
        return re.compile("|".join(re.escape(t) for t in terms), re.I)

    def kind_of(self, term: str) -> str:
        low = term.lower()
        for kind, group in (("user", self.users), ("host", self.hosts), ("project", self.projects)):
            if low in {g.lower() for g in group}:
                return kind
        return "user"

    def as_dict(self) -> dict:
        return {"users": sorted(self.users), "hosts": sorted(self.hosts), "projects": sorted(self.projects)}


_GENERIC_WORDS = frozenset({
    "home", "users", "user", "root", "src", "tmp", "var", "opt", "usr", "mnt", "workspace", "workspaces",
    "projects", "project", "code", "dev", "repos", "repo", "git", "documents", "desktop", "share",
    "shared", "localhost", "admin", "default", "public", "runner", "work", "data", "app", "build",
    "wiki", "www", "api", "mail", "jira", "confluence", "gitlab", "github", "internal", "corp", "local",
    "intra", "example", "test", "staging", "prod", "production",
}) | GENERIC_DIRS
MIN_NAME_CHARS = 4  # shorter learned names ("can", "bob") would also erase ordinary words
_HOME = re.compile(r"(?:/home/|/Users/|[A-Za-z]:[\\/]+Users[\\/]+|~)([\w.-]{3,})(?:[\\/]+([\w.-]{3,}))?", re.I)
_USER_AT_HOST = re.compile(r"(?<![\w.@-])([\w.-]{3,})@([\w-]{3,})(?![\w.@-])")
_UNC = re.compile(r"(?<!\\)\\\\([\w.-]{3,})\\")
_URL_HOST = re.compile(r"://(?:[^\s/@]+@)?([A-Za-z0-9._-]{3,})")
_AT_HOST = re.compile(r"^[\w.-]+@([A-Za-z0-9._-]{3,})$")


def learn_vocabulary(values: Iterable[str], agent_ids: Iterable[str] = (), roles: Iterable[str] = ()) -> Vocabulary:
    """Collect user, host and project names from home paths, UNC paths, URLs, `user@host` and agent ids
    such as `implementer-alice` or `reviewer@buildbox`."""
    role_words = {r.lower() for r in roles}
    vocab = Vocabulary()
    role_prefix = re.compile(r"^(?:%s)[-_@]([A-Za-z0-9._-]{3,})$" % "|".join(map(re.escape, roles))) if roles else None

    def keep(term: str | None, bucket: set[str]) -> None:
        if term and term.lower() not in _GENERIC_WORDS and not term.isdigit() and len(term) >= MIN_NAME_CHARS:
            bucket.add(term)

    # One pass of each pattern over all values joined by newlines (none of them spans a line) is
    # far faster than a pass per value.
    text = "\n".join(v for v in values if v)
    for m in _HOME.finditer(text):
        keep(m.group(1), vocab.users)
        keep(m.group(2), vocab.projects)
    for m in _UNC.finditer(text):
        keep(m.group(1), vocab.hosts)
    for m in _URL_HOST.finditer(text):
        host = m.group(1)
        if host.count(".") >= 1 and re.search(r"\.(?:internal|local|corp|lan|intra|home)\b", host, re.I):
            for label in host.split(".")[:-1]:
                keep(label, vocab.hosts)
    for m in _USER_AT_HOST.finditer(text):
        if m.group(1).lower() not in role_words:
            keep(m.group(1), vocab.users)
        keep(m.group(2), vocab.hosts)
    for agent_id in agent_ids:
        if m := _AT_HOST.match(agent_id):
            keep(m.group(1), vocab.hosts)
        elif role_prefix and (m := role_prefix.match(agent_id)):
            keep(m.group(1), vocab.users)
    return vocab


class Scrubber:
    """Scrubs free text; counts each replacement by rule. Memoized, since analytics text repeats."""

    def __init__(self, pseudonymize: Callable[[str, str], str], vocabulary: Vocabulary | None = None):
        self._pseudonymize = pseudonymize
        self.vocabulary = vocabulary or Vocabulary()
        self._vocab_rx = self.vocabulary.pattern()
        self._cache: dict[str, tuple[str, Counter]] = {}

    def scrub(self, text: str) -> tuple[str, Counter]:
        hit = self._cache.get(text)
        if hit is None:
            hit = self._cache[text] = self._scrub(text)
        return hit

    def _scrub(self, text: str) -> tuple[str, Counter]:
        counts: Counter = Counter()

        def sub(rx: re.Pattern, repl, rule: str, s: str) -> str:
            def one(m: re.Match) -> str:
                counts[rule] += 1
                return repl(m) if callable(repl) else m.expand(repl)
            return rx.sub(one, s)

        s = text
        s = sub(CODE_FENCE, "<CODE>", "code.block", s)
        for rule, placeholder, rx in SECRET_RULES:
            s = sub(rx, placeholder, f"secret.{rule}", s)
        for rule, placeholder, rx in PII_RULES[:2]:  # e-mail and URL, before paths see their slashes
            s = sub(rx, placeholder, f"pii.{rule}", s)
        s = sub(PATH_RULE, lambda m: generalize_path(m.group(0)), "path", s)
        for kind, rx in ID_RULES:
            s = sub(rx, lambda m, k=kind: self._pseudonymize_id(k, m.group(0)), f"id.{kind}", s)
        for rule, placeholder, rx in PII_RULES[2:]:
            s = sub(rx, placeholder, f"pii.{rule}", s)
        s = self._remove_code(s, counts)
        if self._vocab_rx is not None:
            s = sub(self._vocab_rx, lambda m: f"<{self.vocabulary.kind_of(m.group(0)).upper()}>",
                    "pii.name", s)

        def entropy(m: re.Match) -> str:
            if is_high_entropy(m.group(0)):
                counts["secret.high_entropy"] += 1
                return "<SECRET>"
            return m.group(0)
        s = TOKEN.sub(entropy, s)
        for kind, token in detect_secrets_tokens(s):
            counts["secret.detect_secrets." + re.sub(r"\W+", "_", kind.lower()).strip("_")] += 1
            s = s.replace(token, "<SECRET>")
        return s, counts

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


def scan_for_leaks(text: str, vocabulary: Vocabulary | None = None) -> list[str]:
    """Names of the detectors that fire on `text` (placeholders and generalized paths are fine)."""
    found = []
    for rule, _, rx in SECRET_RULES + PII_RULES:
        if any(not PLACEHOLDER.fullmatch(m.group(0)) for m in rx.finditer(text)):
            found.append(rule)
    for m in PATH_RULE.finditer(text):
        if generalize_path(m.group(0)) != m.group(0):
            found.append("path")
            break
    if CODE_FENCE.search(text) or any(CODE_LINE.match(line) and not PLACEHOLDER.fullmatch(line.strip())
                                      for line in text.split("\n")):
        found.append("code")
    if vocabulary is not None and (rx := vocabulary.pattern()) is not None and rx.search(text):
        found.append("name")
    if any(is_high_entropy(t) for t in TOKEN.findall(text)):
        found.append("high_entropy")
    if detect_secrets_tokens(text):
        found.append("detect_secrets")
    return found
