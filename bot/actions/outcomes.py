"""What became of a received mail: the outcome, and why, as the pipeline records it."""
from __future__ import annotations

from dataclasses import dataclass

HANDLED, IGNORED, REJECTED, HELD = "handled", "ignored", "rejected", "held"
NO_HANDLER = "no handler yet"


@dataclass(frozen=True)
class Outcome:
    outcome: str  # handled, ignored, rejected, held
    reason: str = ""
    rule: str = ""
    kind: str = ""
