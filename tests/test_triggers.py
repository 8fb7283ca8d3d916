"""The scrubber's hand-written RE2 triggers flag every text their detector matches, so scrubbing and
vocabulary learning give the results they give with every detector run on every text."""

from __future__ import annotations

import json
import re
from datetime import timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import learning_assets.privacy.scrub as scrub_module
from learning_assets.privacy.learned import text_values
from learning_assets.privacy.pseudonyms import Pseudonymizer
from learning_assets.privacy.scrub import (
    _NAME_TRIGGERS,
    CODE_INLINE,
    CODE_LINE,
    CODE_TRIGGER,
    ID_RULES,
    PATH_RULE,
    PATH_TRIGGER,
    PII_RULES,
    ROLES,
    SECRET_CANDIDATE,
    SECRET_CANDIDATE_TRIGGER,
    SECRET_RULES,
    TOKEN,
    VOCABULARY_TRIGGER,
    Scrubber,
    Vocabulary,
    flagged,
    learn_vocabulary,
    trigger,
)
from learning_assets.sources.frames import TEXT
from learning_assets.tables import read_tables
from tests.test_canaries import HOST, PROJECT, USER
from tests.test_canaries import texts as canary_texts

pseudo = Pseudonymizer(b"p" * 32)
VOCAB = Vocabulary({USER, "märtaqvist", "zorblatt"}, {HOST, "buildbox-eu-07"}, {PROJECT, "acmesecretproj"})
SAMPLE = Path(__file__).resolve().parents[1] / "learning_assets" / "sample_data"
# Where Python's Unicode regex semantics and RE2's ASCII ones part (case folds onto ASCII letters, Unicode
# digits, spaces and word characters, control characters), and the characters the detectors key on.
TRICKY = ["\u212a", "\u017f", "\u0130", "\u0131", "٣", "۷", "\xa0", "\x1c", "\x0b", "\x0c", "\r", "\u2028", "é", "ß", "Ω", "中", "_",
          "-", ".", "/", "\\", "~", "@", ":", "=", "+", "`", "'", '"', "<", ">", "(", ")", ";", "{", "\n", "\t", " "]
FRAGMENTS = ["task_0123456789abcdef", "/home/", "/Users/", "C:\\Users\\", "\\\\", "~/", "://", "file:///", "@",
             "task-", "wf-", "pat_", "exec-", "reviewer.", "AKIA", "ASIA", "akia", "ghp_", "github_pat_", "xoxb-",
             "sk-", "sk_live_", "AIza", "eyJ", "-----BEGIN RSA PRIVATE KEY-----", "password=", "Bearer ",
             "api_key: ", "--db-token=", " -p ", "curl -u ", "the pin is ", "Signed-off-by: ", "def ", "class ",
             "import ", "from x import y", "return ", "```", "`", "10.1.2.3", "fe80:0:0:0:0:0:0:1", "::1",
             "aa:bb:cc:dd:ee:ff", "JIRA-1234", "123-45-6789", "QQ 12 34 56 C", "12 Baker Street", "@octo",
             "+1 415-555-0100", "box-eu-07", "snake_case", "camelCase", "f(x)", "x = y(1)", "5e884898da280471",
             "Zq8xK2mP9vL4nR7tY1wE5sA3dF6gH0jC", "<SECRET>", "2026", "märtaqvist", USER, HOST, PROJECT,
             "a", "Z", "0", "9"]
fragments = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.sampled_from(TRICKY), st.text(max_size=8)),
                     max_size=14).map("".join)
# Two steps are gated by their trigger by design, not only sped up: phonenumbers runs only on digits written
# the way phone numbers are (`_PHONE_TRIGGER`), and plain text with a carriage return is not normalized.
# `scrub` alone runs both on every text, so texts like these may come out differently.
GATED = re.compile(r"[0-9][ .-]?[0-9]{2}[ .-][0-9]|\r")


def _code(text: str) -> bool:
    """What `Scrubber._remove_code` acts on: a line CODE_LINE matches at its start, or CODE_INLINE anywhere."""
    return any(CODE_LINE.match(line) for line in text.split("\n")) or bool(CODE_INLINE.search(text))


# (what a detector matches, its trigger)
DETECTORS = [
    *((rx.search, trigger(when)) for _, _, rx, when in SECRET_RULES + PII_RULES),
    *((rx.search, trigger(when)) for _, rx, when in ID_RULES),
    (PATH_RULE.search, trigger(PATH_TRIGGER)),
    (_code, trigger(CODE_TRIGGER)),
    (TOKEN.search, trigger(TOKEN.pattern)),
    (SECRET_CANDIDATE.search, trigger(SECRET_CANDIDATE_TRIGGER)),
    *((rx.search, trigger(when)) for rx, when in _NAME_TRIGGERS.items()),
    (VOCAB.pattern().search, VOCAB.trigger()),
]


def flags(when: str, text: str) -> bool:
    return len(flagged(pa.array([text], pa.large_string()), when)) == 1


@pytest.fixture(scope="module")
def sample_texts() -> list[str]:
    """Every distinct string of the bundled sample source, as the scrubber would see it."""
    frames = [read.frame() for read in read_tables(SAMPLE, timezone.utc).values()]
    return sorted({v for df in frames for v in text_values(df)})


def test_triggers_flag_every_match_of_their_detector(sample_texts):
    corpus = sample_texts + canary_texts() + FRAGMENTS + TRICKY
    for matches, when in DETECTORS:
        assert [t for t in corpus if matches(t) and not flags(when, t)] == [], when


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fragments)
def test_triggers_flag_every_match_in_random_text(text):
    for matches, when in DETECTORS:
        if matches(text):
            assert flags(when, text), when


def test_text_outside_plain_ascii_is_always_flagged():
    aws = next(when for rule, _, _, when in SECRET_RULES if rule == "aws_key")
    assert re.search(r"(?i)akia", "a\u212aia") and flags(trigger(aws), "a\u212aia")  # Kelvin sign
    for text in ("\u017f", "\u0663", "\x0b", "\xa0"):
        assert flags(trigger("nothing"), text)
    assert not flags(trigger("nothing"), "plain text\twith tab\r\n")


def scrubbed_both_ways(values: list[str]) -> tuple[dict, dict]:
    """`scrub_many` (triggers) and `scrub` (every step on every text) of the same values."""
    return Scrubber(pseudo, VOCAB).scrub_many(values), {v: Scrubber(pseudo, VOCAB).scrub(v) for v in values}


def test_scrubbing_with_triggers_equals_scrubbing_every_value(sample_texts):
    many, one_by_one = scrubbed_both_ways(sample_texts + canary_texts() + [f"{USER} on {HOST}", "", "plain words"])
    assert many == one_by_one


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(fragments, min_size=1, max_size=8))
def test_scrubbing_random_text_with_triggers_equals_without(values):
    many, one_by_one = scrubbed_both_ways([v for v in values if not GATED.search(v)])
    assert many == one_by_one


def test_later_steps_see_what_earlier_ones_wrote():
    # `task-1+AAAA` is too short for a token; its pseudonym plus `+AAAA` is a high-entropy one.
    many, one_by_one = scrubbed_both_ways(["task-1+AAAA", "see task-7+Q9z/xy and wf-abc1=z"])
    assert many == one_by_one and many["task-1+AAAA"][0] == "<SECRET>"


def test_text_arrow_cannot_hold_is_scrubbed_one_by_one():
    lone_surrogate = "\udc80 /home/zorblatt/acmesecretproj/src/a.py"
    scrubber = Scrubber(pseudo, VOCAB)
    assert scrubber.scrub_many([lone_surrogate]) == {lone_surrogate: Scrubber(pseudo, VOCAB).scrub(lone_surrogate)}
    assert "zorblatt" not in scrubber.scrub(lone_surrogate)[0]


def test_vocabulary_learned_with_triggers_equals_learned_from_every_value(sample_texts, monkeypatch):
    values = sample_texts + canary_texts() + [f"{USER}@{HOST}", f"\\\\{HOST}\\share", "https://x.corp.internal/"]
    agents = ["reviewer@qx-devbox-77", "implementer-marta"]
    learned = learn_vocabulary(values, agents, roles=ROLES)
    assert {USER, "zorblatt"} <= learned.users and HOST in learned.hosts and PROJECT in learned.projects
    monkeypatch.setattr(scrub_module, "to_arrow", lambda values: None)  # no array: every value is read
    assert learn_vocabulary(values, agents, roles=ROLES) == learned


def test_text_values_skips_only_json_documents_without_a_possible_name():
    docs = [json.dumps({"file": f"/home/{USER}/{PROJECT}/a.py"}),              # flagged as it is
            json.dumps({"note": f"~{USER}"}, ensure_ascii=True),
            json.dumps({"path": "/Users/märtaqvist/x"}),                         # escaped: always decoded
            '{"path": "\\/home\\/escapedname\\/proj"}',                          # `\/` spells a slash
            json.dumps({"note": "nothing to learn here", "n": 3}),
            "{not json at all /home/brokenjson/x"]
    frame = pd.DataFrame({"metadata": docs, "agent_id": ["a", "b", "c", "d", "e", "f"]}, dtype=TEXT)
    every = list(text_values(frame))
    some = list(text_values(frame, VOCABULARY_TRIGGER))
    assert set(some) < set(every) and "nothing to learn here" not in some
    assert learn_vocabulary(some) == learn_vocabulary(every)
    assert {"escapedname", "brokenjson", "märtaqvist", USER} <= learn_vocabulary(some).users
