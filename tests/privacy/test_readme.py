"""The README's data-protection table names every table, as bot/privacy/policy.py classifies it."""
from __future__ import annotations

from pathlib import Path

from bot.privacy.policy import POLICIES

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_table_lists_every_table_with_its_policy():
    text = README.read_text(encoding="utf-8")
    table = text.split("### Data protection (GDPR)", 1)[1].split("### Retention", 1)[0]
    rows = {line.split("|")[1].strip(" `"): line for line in table.splitlines() if line.startswith("| `")}
    assert set(rows) == set(POLICIES)
    for name, policy in POLICIES.items():
        assert policy.why.split(":")[0].split(";")[0] in rows[name], name
