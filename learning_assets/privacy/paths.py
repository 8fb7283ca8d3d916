"""Generalization of file paths to shareable patterns such as `src/**/*.py`."""

from __future__ import annotations

import functools
import re

from learning_assets.privacy.vocabulary import allowed_words, name_words

# Directory names common to most repositories: safe to keep as the anchor of a pattern.
GENERIC_DIRS = frozenset({
    "src", "lib", "libs", "test", "tests", "spec", "specs", "docs", "doc", "app", "apps", "packages",
    "pkg", "cmd", "internal", "scripts", "bin", "config", "configs", "api", "web", "frontend",
    "backend", "server", "client", "include", "examples", "migrations", "static", "templates",
    "tools", "benchmarks", "assets", "components", "services", "models", "utils", ".github",
})
GENERIC_FILES = frozenset({
    "makefile", "dockerfile", "readme", "license", "pyproject.toml", "setup.py", "setup.cfg",
    "package.json", "requirements.txt", "go.mod", "cargo.toml", "conftest.py", "__init__.py",
})
_EXT = re.compile(r"\.([A-Za-z0-9]{1,8})$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/]*")
_DRIVE = re.compile(r"^[A-Za-z]:")


@functools.lru_cache(maxsize=1 << 16)  # the same files recur across rows and tables
def generalize_path(path: str) -> str:
    """`/home/alice/acme/src/pay/client.py` -> `src/**/*.py`; user, host and project names never survive:
    only directory and file names common to most repositories, and allowed extensions, are kept."""
    p = path.strip().strip("\"'")
    p = _SCHEME.sub("", p)
    p = p.replace("\\", "/")
    p = _DRIVE.sub("", p)
    parts = [c for c in p.split("/") if c and c not in (".", "..", "~")]
    if not parts:
        return "**"
    name = parts[-1]
    ext_match = _EXT.search(name)
    ext = f".{ext_match.group(1).lower()}" if ext_match and ext_match.start() > 0 else ""
    if ext and ext[1:] not in allowed_words() and ext[1:] not in name_words():
        ext = ""  # an extension is a word too: `report.okonkwo` must not keep its last part
    anchor = next((c.lower() for c in parts[:-1] if c.lower() in GENERIC_DIRS), None)
    prefix = f"{anchor}/**" if anchor else "**"
    if name.lower() in GENERIC_FILES:
        return f"{prefix}/{name.lower()}"
    if ext:
        return f"{prefix}/*{ext}"
    if name.lower() in GENERIC_DIRS:
        return f"{prefix}/{name.lower()}" if anchor else f"**/{name.lower()}/**"
    return prefix
