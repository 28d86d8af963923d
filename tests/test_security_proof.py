"""The short version of the hostile-sender campaign in `make proof`: no spoof acts, no flood gets through."""
from __future__ import annotations

from proof import security


def test_no_spoofed_action_succeeds():
    figures = security.spoofing()
    assert figures["spoof_attempts"] >= 20 and figures["spoof_succeeded"] == 0


def test_a_flood_gets_at_most_ten_answers_to_anyone():
    assert security.flooding(40)["flood_answers_max"] <= 10


def test_generated_mail_never_raises():
    assert security.fuzzing(200) == {"fuzz_cases": 200, "fuzz_unhandled": 0}
