"""The anonymizers on their own: unit cases (including the framework's own), and properties (hypothesis)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from learning_assets.privacy.anonymize import Anonymizer
from learning_assets.privacy.keyfile import SecretKeyError, load_or_create_key
from learning_assets.privacy.leaks import check_strings
from learning_assets.privacy.paths import generalize_path
from learning_assets.privacy.pseudonyms import Pseudonymizer
from learning_assets.privacy.scrub import Scrubber, Vocabulary, learn_vocabulary
from learning_assets.sources.frames import conform
from learning_assets.tables import ANONYMIZED, RAW, anonymize_table

KEY = b"k" * 32
pseudo = Pseudonymizer(KEY)


def scrub(text: str, vocab: Vocabulary | None = None) -> str:
    return Scrubber(pseudo, vocab).scrub(text)[0]


# --- the framework's own test cases, where they still make sense -------------------------------

@pytest.mark.parametrize("path, expected", [
    ("/home/user/project/src/file.py", "src/**/*.py"),
    ("C:\\Users\\user\\project\\src\\file.py", "src/**/*.py"),
    ("/Users/alice/acme/tests/unit/test_x.py", "tests/**/*.py"),
    ("~/acme/lib/a.ts", "lib/**/*.ts"),
    ("file:///home/alice/acme/docs/guide.md", "docs/**/*.md"),
    ("\\\\buildhost\\share\\acme\\app\\main.go", "app/**/*.go"),
    ("/opt/acme/secret-thing/run", "**"),
    ("relative/dir/setup.py", "**/setup.py"),
])
def test_paths_become_generic_patterns(path, expected):
    assert generalize_path(path) == expected


def test_hashing_is_keyed_stable_and_not_a_plain_hash():
    a, b = pseudo("task", "task-0001"), pseudo("task", "task-0001")
    assert a == b and a.startswith("task_")
    assert pseudo("task", "task-0002") != a
    assert Pseudonymizer(b"x" * 32)("task", "task-0001") != a
    assert a == "task_" + hmac.new(KEY, b"task\x00task-0001", hashlib.sha256).hexdigest()[:16]
    plain = hashlib.sha256(b"task-0001").hexdigest()
    salted = hashlib.sha256(b"tapps-agents-default-salt" + b"task-0001").hexdigest()
    assert a[5:] not in (plain[:16], salted[:16])


def test_short_keys_are_refused():
    with pytest.raises(ValueError):
        Pseudonymizer(b"short")


@pytest.mark.parametrize("key", ["code", "code_snippet", "snippet", "source", "diff", "patch", "api_key"])
def test_code_and_unknown_keys_are_removed_from_context(key):
    anon = Anonymizer(pseudo, Scrubber(pseudo))
    out = anon.mapping_json(pd.Series([json.dumps({key: "def f():\n    return 1", "language": "python"})]))
    assert json.loads(out[0]) == {"language": "python"}
    assert anon.stats["context_keys_dropped"] == 1


def test_code_snippets_are_replaced_by_their_line_count():
    raw = conform(pd.DataFrame([{
        "pattern_id": "func_charge_card_3", "pattern_type": "function",
        "code_snippet": "def charge_card(self, amount):\n    return amount\n", "context": "payments retry",
        "learned_from": ["task-2026-03-02-0007"], "metadata": "{}", "failure_reasons": [],
    }]), RAW["patterns"])
    out = anonymize_table("patterns", raw, Anonymizer(pseudo, Scrubber(pseudo)))
    assert "code_snippet" not in out.columns
    assert out.loc[0, "code_lines"] == 3
    assert out.loc[0, "learned_from"] == [pseudo("task", "task-2026-03-02-0007")]
    ANONYMIZED["patterns"].validate(out)


# --- free text -----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, placeholder", [
    ("mail jane.doe@example.org today", "<EMAIL>"),
    ("key AKIAIOSFODNN7EXAMPLE in env", "<AWS_KEY>"),
    ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "<GITHUB_TOKEN>"),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig_abcDEF123", "<JWT>"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----", "<PRIVATE_KEY>"),
    ("postgres://admin:hunter2@db.internal:5432/app", "<URL_WITH_PASSWORD>"),
    ("ssh to 10.1.2.3 first", "<IP>"),
    ("call +1 415-555-0100", "<PHONE>"),
    ("see https://wiki.corp.internal/x", "<URL>"),
    ("broke on buildbox-eu-07 again", "<HOST>"),
    ("token = 'hunter2hunter2'", "<SECRET>"),
    ("hash 5e884898da280471 here", "<SECRET>"),
])
def test_secrets_and_personal_data_get_typed_placeholders(text, placeholder):
    out = scrub(text)
    assert placeholder in out
    assert check_strings({out: [("text", "free text")]}) == []


def test_code_is_removed_from_free_text_by_content():
    text = "retry fix:\ndef charge(self, amount):\n    return self.client.post(amount)\nworks now"
    out = scrub(text)
    assert "def " not in out and "charge" not in out and "works now" in out
    assert "import os" not in scrub("add import os.path to the module") + scrub("then import os")
    assert "parse_config" not in scrub("mock parse_config() in tests")


def test_ids_in_text_get_the_same_pseudonym_as_the_id_columns():
    out = scrub("learned from task-2026-03-02-0007. and wf-20260301-140511-8c1f")
    assert pseudo("task", "task-2026-03-02-0007") + "." in out
    assert pseudo("wf", "wf-20260301-140511-8c1f") in out


def test_names_learned_from_paths_and_ids_are_removed_everywhere():
    vocab = learn_vocabulary(["/home/zorblatt/acmesecretproj/src/a.py", "ping quenfrey@plexo-ws-31"],
                             agent_ids=["reviewer@qx-devbox-77", "implementer-marta"],
                             roles=["reviewer", "implementer"])
    assert {"zorblatt", "quenfrey", "marta"} <= vocab.users
    assert {"qx-devbox-77", "plexo-ws-31"} <= vocab.hosts and "acmesecretproj" in vocab.projects
    out = scrub("ZORBLATT said acmesecretproj is on qx-devbox-77 with Marta", vocab)
    assert check_strings({out: [("text", "free text")]}, vocab.as_dict()) == [] and "zorblatt" not in out.lower()


# --- properties ------------------------------------------------------------------------------------

words = st.text(alphabet="abcdefghij klmnop", min_size=0, max_size=30)
alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
secrets_ = st.one_of(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", min_size=16, max_size=16).map(lambda s: "AKIA" + s),
    st.text(alphabet=alnum, min_size=36, max_size=36).map(lambda s: "ghp_" + s),
    st.text(alphabet=alnum, min_size=24, max_size=40).map(lambda s: "sk-" + s),
    st.from_regex(r"[a-z]{3,10}\.[a-z]{2,8}@[a-z]{3,10}\.(com|org|io)", fullmatch=True),
    st.tuples(st.integers(1, 254), st.integers(0, 255), st.integers(0, 255), st.integers(1, 254)).map(
        lambda t: ".".join(map(str, t))),
)
users = st.from_regex(r"[a-z]{4,10}q[a-z]{2,6}", fullmatch=True)
paths = st.tuples(users, st.from_regex(r"[a-z]{3,8}x[a-z]{2,5}", fullmatch=True),
                  st.sampled_from(["src", "lib", "tests", "docs"]), st.sampled_from(["py", "ts", "go", "md"]),
                  st.sampled_from(["/home/{u}/{p}/{d}/mod/f.{e}", "C:\\Users\\{u}\\{p}\\{d}\\f.{e}",
                                   "file:///Users/{u}/{p}/{d}/f.{e}", "~/{p}/{d}/f.{e}"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(words, secrets_, words)
def test_no_generated_secret_survives(before, secret, after):
    out = scrub(f"{before} {secret} {after}")
    assert secret not in out and secret.lower() not in out.lower()


@settings(max_examples=150, deadline=None)
@given(words, paths, words)
def test_no_generated_path_or_user_survives(before, parts, after):
    user, project, directory, ext, template = parts
    path = template.format(u=user, p=project, d=directory, e=ext)
    vocab = learn_vocabulary([path])
    out = scrub(f"{before} {path} {after}", vocab)
    assert user not in out and project not in out
    # the pattern stays, unless the words around it read as code (`fn x`) and the line went as a whole
    assert f"{directory}/**/*.{ext}" in out or out == "<CODE>"


@settings(max_examples=200, deadline=None)
@given(st.one_of(words, st.tuples(words, secrets_, words).map(" ".join),
                 st.text(max_size=60)))
def test_scrubbing_is_idempotent(text):
    once = scrub(text)
    assert scrub(once) == once


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=1, max_size=40), st.binary(min_size=32, max_size=48), st.binary(min_size=32, max_size=48))
def test_pseudonyms_stable_under_one_key_and_different_under_another(value, k1, k2):
    assert Pseudonymizer(k1)("task", value) == Pseudonymizer(k1)("task", value)
    if k1 != k2:
        assert Pseudonymizer(k1)("task", value) != Pseudonymizer(k2)("task", value)


# --- the key --------------------------------------------------------------------------------------

def test_generated_key_is_owner_only_and_reused(tmp_path):
    path = tmp_path / "home" / "learning" / "anonymization.key"
    key = load_or_create_key(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and len(key) >= 32
    assert load_or_create_key(path) == key
    os.chmod(path, 0o644)
    with pytest.raises(SecretKeyError, match=r"key file is readable by others \(mode 644\); chmod 600 it"):
        load_or_create_key(path)


# --- closed vocabularies, no row suppression ----------------------------------------------------------

def test_a_small_project_keeps_every_row_and_framework_names_pass_verbatim():
    rows = [{"agent_id": "reviewer", "agent_name": "Reviewer Agent", "duration": 1.0, "success": True,
             "timestamp": "2026-03-01T10:00:00+00:00"},
            {"agent_id": "review /home/ada/quillfeather/src/app.py", "agent_name": "quillfeather-bot",
             "duration": 2.0, "success": False, "timestamp": "2026-03-01T11:00:00+00:00"}]
    raw = conform(pd.DataFrame(rows), RAW["agent_executions"])
    out = anonymize_table("agent_executions", raw, Anonymizer(pseudo, Scrubber(pseudo)))
    assert len(out) == 2
    assert out["agent_id"].tolist() == ["reviewer", pseudo("agent", "review /home/ada/quillfeather/src/app.py")]
    assert out["agent_name"].tolist() == ["Reviewer Agent", pseudo("agent", "quillfeather-bot")]


def test_expert_names_keep_their_own_pseudonym_or_framework_name():
    custom = [f"acme-reviewer-{i}" for i in range(20)]
    lists = pd.Series([["expert-security", custom[0]], custom[1:], ["expert-testing"]], dtype=object)
    out = Anonymizer(pseudo, Scrubber(pseudo)).experts(lists)
    assert out.tolist() == [["expert-security", pseudo("expert", custom[0])],
                            [pseudo("expert", c) for c in custom[1:]], ["expert-testing"]]


def test_columns_of_several_arrow_chunks_anonymize_as_one():
    """Tables read from Parquet or by Arrow's JSON reader hold their columns in several chunks."""
    rows = [{"task_id": f"task-{i}", "key_learnings": [f"see task-{i % 3}", "fine"], "patterns_used": ["pat_1"],
             "similar_tasks": [f"task-{i + 1}"] if i % 2 else [], "context": "{}", "metadata": "{}",
             "timestamp": "2026-03-01T10:00:00+00:00"} for i in range(6)]
    whole = conform(pd.DataFrame(rows), RAW["task_memories"])
    chunked = whole.apply(lambda column: pd.Series(pd.arrays.ArrowExtensionArray(pa.chunked_array(
        [pa.array(column.iloc[:2]), pa.array(column.iloc[2:])]))) if isinstance(column.dtype, pd.ArrowDtype)
        else column)
    assert pa.array(chunked["key_learnings"]).num_chunks == 2
    out = anonymize_table("task_memories", chunked, Anonymizer(pseudo, Scrubber(pseudo)))
    assert out.equals(anonymize_table("task_memories", whole, Anonymizer(pseudo, Scrubber(pseudo))))


def test_enumerations_keep_their_values_and_generalize_the_rest():
    anon = Anonymizer(pseudo, Scrubber(pseudo))
    out = anon.category(pd.Series(["success", "cancelled", "exploded", None], dtype=object),
                        ["success", "cancelled"], missing="unknown")
    assert out.tolist() == ["success", "cancelled", "other", "unknown"]
    assert anon.stats["values_generalized"] == 1


def test_undated_events_are_dropped_and_the_rest_stay_aligned():
    rows = [{"agent_id": "reviewer", "agent_name": "Reviewer", "duration": float(i), "success": True,
             "timestamp": None if i == 2 else "2026-03-01T10:00:00+00:00"} for i in range(7)]
    raw = conform(pd.DataFrame(rows), RAW["agent_executions"])
    out = anonymize_table("agent_executions", raw, Anonymizer(pseudo, Scrubber(pseudo)))
    assert out["duration"].tolist() == [0.0, 1.0, 3.0, 4.0, 5.0, 6.0]
    assert out.index.equals(pd.RangeIndex(6)) and out["timestamp"].notna().all()
