"""The RE2 pre-filters are supersets: whatever a Python detector would match, its trigger flags, so
scrubbing, the leak rescan and vocabulary learning give exactly the results they give without them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import learning_assets.privacy.scrub as scrub_module
from learning_assets.defs.export.anonymized import text_values
from learning_assets.privacy.prefilter import ASCII_CASE_FOLDS, flag_mask, re2_superset
from learning_assets.privacy.pseudonyms import Pseudonymizer
from learning_assets.privacy.scrub import (
    _HOME,
    _UNC,
    _URL_HOST,
    _USER_AT_HOST,
    DETECTOR_TRIGGERS,
    ROLES,
    SECRET_CANDIDATE,
    VOCABULARY_TRIGGER,
    Scrubber,
    Vocabulary,
    learn_vocabulary,
)
from learning_assets.sources.readers import (
    read_capabilities,
    read_code_outcomes,
    read_confidence_metrics,
    read_expert_performance,
    read_feedback,
    read_patterns,
    read_step_executions,
    read_task_memories,
    read_workflow_executions,
)
from tests.test_canaries import HOST, PROJECT, USER
from tests.test_canaries import texts as canary_texts

pseudo = Pseudonymizer(b"p" * 32)
VOCAB = Vocabulary({USER, "märtaqvist", "zorblatt"}, {HOST, "buildbox-eu-07"}, {PROJECT, "acmesecretproj"})
SAMPLE = Path(__file__).resolve().parents[1] / "learning_assets" / "sample_data"
READERS = (read_task_memories, read_patterns, read_code_outcomes, read_workflow_executions,
           read_expert_performance, read_confidence_metrics, read_feedback, read_step_executions)
# Where Python's Unicode regex semantics and RE2's ASCII ones part: case folds onto ASCII letters,
# Unicode digits, spaces and word characters, and the characters the detectors key on.
TRICKY = ["K", "ſ", "İ", "ı", "٣", "۷", "\xa0", "\x1c", "\x0b", "\u2028", "é", "ß", "Ω", "中", "_", "-", ".",
          "/", "\\", "~", "@", ":", "=", "+", "`", "'", '"', "<", ">", "(", ")", ";", "{", "\n", "\t", " "]
FRAGMENTS = ["task_0123456789abcdef", "/home/", "/Users/", "C:\\Users\\", "\\\\", "~/", "://", "file:///", "@", "task-", "wf-", "pat_",
             "exec-", "reviewer.", "AKIA", "ASIA", "akia", "ghp_", "github_pat_", "xoxb-", "sk-", "sk_live_",
             "AIza", "eyJ", "-----BEGIN RSA PRIVATE KEY-----", "password=", "Bearer ", "api_key: ", "def ",
             "class ", "import ", "from x import y", "return ", "```", "`", "10.1.2.3", "fe80:0:0:0:0:0:0:1",
             "+1 415-555-0100", "box-eu-07", "snake_case", "camelCase", "f(x)", "5e884898da280471",
             "Zq8xK2mP9vL4nR7tY1wE5sA3dF6gH0jC", "<SECRET>", "task_0123456789abcdef", "2026", "märtaqvist",
             USER, HOST, PROJECT, "a", "Z", "0", "9"]
fragments = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.sampled_from(TRICKY), st.text(max_size=8)),
                     max_size=14).map("".join)


@pytest.fixture(scope="module")
def sample_texts() -> list[str]:
    """Every distinct string of the generator's sample source, as the scrubber would see it."""
    frames = [r(SAMPLE).frame() for r in READERS] + [t.frame() for t in read_capabilities(SAMPLE)]
    return sorted({v for df in frames for v in text_values(df)})


def no_prefilter(monkeypatch) -> None:
    """Without an Arrow array every code path falls back to running Python on every value."""
    monkeypatch.setattr(scrub_module, "to_arrow", lambda values: None)


def flags(rx: re.Pattern, text: str) -> bool:
    """Whether the trigger the pipeline uses for `rx` flags `text`."""
    trigger = DETECTOR_TRIGGERS.get(rx) or re2_superset(rx)
    return flag_mask(pa.array([text], pa.large_string()), trigger)[0].as_py()


DETECTORS = [*DETECTOR_TRIGGERS, _HOME, _UNC, _URL_HOST, _USER_AT_HOST, VOCAB.pattern()]
# Pseudonyms alone, in runs, upper-cased, one hex digit too many: the mixed-token trigger blanks only the first.
PSEUDONYM_CASES = ["task_0123456789abcdef", "[task_0123456789abcdef] cap_fedcba9876543210: x", "x/task_0123456789abcdef",
                   "TASK_0123456789ABCDEF", "a_0123456789abcdef1", "é_0123456789abcdef", "task_0123456789abcdef=1",
                   "wf_0123456789abcdef,pat_0123456789abcdef", "ſ_0123456789abcdef 1", "task_0123456789abcdefé9"]


def test_triggers_flag_every_match_of_their_detector(sample_texts):
    corpus = sample_texts + canary_texts() + FRAGMENTS + TRICKY + PSEUDONYM_CASES
    for rx in DETECTORS:
        missed = [t for t in corpus if rx.search(t) and not flags(rx, t)]
        assert missed == [], rx.pattern


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fragments)
def test_triggers_flag_every_match_in_random_text(text):
    for rx in DETECTORS:
        if rx.search(text):
            assert flags(rx, text), rx.pattern


def test_lone_pseudonyms_do_not_make_detect_secrets_candidates():
    assert not flags(SECRET_CANDIDATE, "[task_0123456789abcdef] cap_fedcba9876543210: fix the build")
    assert flags(SECRET_CANDIDATE, "[task_0123456789abcdef] deploy AB12cd34EF56gh")


def test_only_four_non_ascii_characters_fold_onto_ascii_letters():
    letters = re.compile("[a-zA-Z]", re.I)
    folds = "".join(chr(c) for c in range(0x80, 0x110000) if letters.fullmatch(chr(c)))
    assert ASCII_CASE_FOLDS == "".join(r"\x{%x}" % ord(c) for c in folds)


def test_case_insensitive_triggers_see_unicode_case_folds():
    aws = re.compile(r"AKIA[A-Z0-9]{16}", re.I)
    assert aws.search("aKİA" + "K" * 16) and flags(aws, "aKİA" + "K" * 16)
    assert not flags(aws, "AKIB" + "A" * 16)


def scrubbed_both_ways(values: list[str]) -> tuple[dict, dict]:
    fast = Scrubber(pseudo, VOCAB).scrub_many(values)
    with pytest.MonkeyPatch.context() as m:
        no_prefilter(m)
        slow = Scrubber(pseudo, VOCAB).scrub_many(values)
    return fast, slow


def test_scrubbing_with_prefilter_equals_scrubbing_every_value(sample_texts):
    values = sample_texts + canary_texts() + [f"{USER} on {HOST}", "", "plain words only"]
    fast, slow = scrubbed_both_ways(values)
    assert fast == slow
    assert {v: Scrubber(pseudo, VOCAB).scrub(v) for v in values} == slow


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(fragments, min_size=1, max_size=8))
def test_scrubbing_random_text_with_prefilter_equals_without(values):
    fast, slow = scrubbed_both_ways(values)
    assert fast == slow


def test_later_steps_see_what_earlier_ones_wrote():
    # `task-1+AAAA` is too short for a token; its pseudonym plus `+AAAA` is a high-entropy one.
    values = ["task-1+AAAA", "see task-7+Q9z/xy and wf-abc1=z"]
    fast, slow = scrubbed_both_ways(values)
    assert fast == slow and fast["task-1+AAAA"][0] == "<SECRET>"


def test_text_arrow_cannot_hold_is_scrubbed_one_by_one():
    lone_surrogate = "\udc80 /home/zorblatt/acmesecretproj/src/a.py"
    scrubber = Scrubber(pseudo, VOCAB)
    assert scrubber.scrub_many([lone_surrogate]) == {lone_surrogate: Scrubber(pseudo, VOCAB).scrub(lone_surrogate)}
    assert "zorblatt" not in scrubber.scrub(lone_surrogate)[0]


def test_vocabulary_learned_with_prefilter_equals_learned_from_every_value(sample_texts, monkeypatch):
    values = sample_texts + canary_texts() + [f"{USER}@{HOST}", f"\\\\{HOST}\\share", "https://x.corp.internal/"]
    agents = ["reviewer@qx-devbox-77", "implementer-marta"]
    fast = learn_vocabulary(values, agents, roles=ROLES)
    assert {USER, "zorblatt"} <= fast.users and HOST in fast.hosts and PROJECT in fast.projects
    no_prefilter(monkeypatch)
    assert learn_vocabulary(values, agents, roles=ROLES) == fast


def test_text_values_skips_only_json_documents_without_a_possible_name():
    docs = [json.dumps({"file": f"/home/{USER}/{PROJECT}/a.py"}),              # flagged as it is
            json.dumps({"note": f"~{USER}"}, ensure_ascii=True),
            json.dumps({"path": "/Users/märtaqvist/x"}),                         # escaped: always decoded
            '{"path": "\\/home\\/escapedname\\/proj"}',                          # `\/` spells a slash
            json.dumps({"note": "nothing to learn here", "n": 3}),
            "{not json at all /home/brokenjson/x"]
    frame = pd.DataFrame({"metadata": docs, "agent_id": ["a", "b", "c", "d", "e", "f"]})
    every = list(text_values(frame))
    flagged = list(text_values(frame, VOCABULARY_TRIGGER))
    assert set(flagged) < set(every) and "nothing to learn here" not in flagged
    assert learn_vocabulary(flagged) == learn_vocabulary(every)
    assert {"escapedname", "brokenjson", "märtaqvist", USER} <= learn_vocabulary(flagged).users
