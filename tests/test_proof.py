"""The short version of `make proof`: the same campaigns on small sizes, asserting the zeros.

150 mails of every kind through the real receiver of a real `kkrbot run`, killed with SIGKILL
three times and restarted, sending to a sink that refuses and drops; nothing may be lost or
doubled outside the one-batch window (proof/verdict.py says how that is judged).
"""
from __future__ import annotations

import pytest

import re
import subprocess
import sys

SHORT = ["--mails", "150", "--kills", "3", "--rate", "12", "--min-drain", "0", "--max-drain", "90",
         "--timeout", "200", "--fuzz-cases", "50"]
ZEROS = ("crash_inbound_lost", "crash_inbound_twice", "crash_outbound_lost", "crash_outbound_twice",
         "inbound_unsent", "inbound_unexpected_outcome", "outbound_unmatched", "bot_exits_by_itself")
KINDS = ("post", "post_two_lists", "big_post", "help", "token_leaver", "token_wrong_sender", "token_unknown",
         "auto_reply", "bounce", "non_member")


@pytest.mark.sqlite_only  # the campaign reads the SQLite file; tests/test_scale.py is PostgreSQL's
def test_a_short_crash_campaign_loses_nothing_and_doubles_nothing_outside_the_window(tmp_path):
    done = subprocess.run([sys.executable, "-m", "proof", *SHORT, "--workdir", str(tmp_path)],
                          capture_output=True, text=True, timeout=240)
    figures = {name: int(value) for name, value in re.findall(r"^(\w+): (\d+)$", done.stdout, re.M)}
    assert figures.get("crash_rounds") == 3, done.stdout + done.stderr[-3000:]
    assert {name: figures[name] for name in ZEROS} == dict.fromkeys(ZEROS, 0), done.stderr[-3000:]
    assert all(figures[f"mix_{kind}"] > 0 for kind in KINDS), done.stdout
    assert figures["inbound_accepted"] == 150 and figures["outbound_sent"] > 500
    assert figures["spoof_succeeded"] == 0 and figures["fuzz_cases"] == 50 and figures["fuzz_unhandled"] == 0
    assert done.returncode == 0, done.stderr[-3000:]
