"""Judge a campaign from the real SQLite file, the sink's records and the bot's logs.

Inbound. Every mail the MTA got a 250 for must be stored exactly once per list address it was
sent to (the row keyed by its Message-ID and delivered-to address) and decided exactly once:
the row is `done`, there is one `inbound-*` audit entry per stored row and at most one `outcome`
log line per row. `lost` counts copies that are missing or never decided; `twice` counts copies
stored or decided more than once. The outcome must also be the one the mail's kind calls for,
so the campaign is known to exercise what it claims (`inbound_unexpected_outcome`).

Outbound. A copy at the sink is identified by Message-ID, recipient and envelope sender (a
relayed post keeps its author's Message-ID; the VERP sender tells two networks' copies of one
post apart; a reply has the bot's own Message-ID); that is exactly one outbox row. `lost`
counts rows that ended `sent` without a copy at the sink, rows given up (`expired`, `failed`,
or a 5xx to anyone but the dead members the sink refuses by design), rows still queued whose
retry is overdue by more than the sender's wake interval, and rows a decision promised but
that were never queued (a relayed post with fewer rows than its outcome says, a help command
or a wrong-sender refusal without its answer). Rows whose retry is not yet due, or is due and
waits for the sender's periodic wake, are legitimately pending (`outbound_pending`).

The one-batch window. The README promises that a crash can send at most one batch
(`[outbox] batch_size`) twice: the batch on the wire, whose copies the server took (250) but
whose results were not committed when the process died. A copy that arrived again is counted
in `crash_outbound_window` when all of these hold, and in `crash_outbound_twice` otherwise:

1. its earlier arrival came on a connection of a process that was then killed (the sink stamps
   each connection with the process's number when it is made, and the campaign moves the
   number on only between a process's death and the next start, so a message the dead process
   left in the socket still counts as its own), and the next arrival came from a later process;
2. the earlier arrival happened after that process's last results commit: later than every
   `sent_at` the process committed (`sent_at` is the `now` of the transaction that records a
   batch's results, taken after every copy of that batch was answered, so it lies between the
   last committed batch's copies and the next batch's; sink and bot share the machine's clock);
3. the killed process had at most one batch unrecorded: the rows it tried to deliver after that
   last commit and whose result its log never shows (more transactions at the sink, any answer,
   than `sent`/`send_*` lines) are at most `batch_size`. A process that keeps two batches on the
   wire unrecorded breaks the promise even when few of their copies happened to get a 250, so
   then every duplicate of that kill counts as `twice`.

A copy sent twice by one process, re-sent after its `sent` result was committed, re-sent
after a clean stop, or sent before a later commit of the same process is outside the window.
Rules 2 and 3 only ever err towards the window where the bot's own record is missing (a commit
that recorded no sent row is not seen, a delivery that never reached the sink is not counted).

Tried against a bot changed on purpose: committing only every third batch is caught by
`make proof` (and by the short run in `make test` when a kill meets busy sending); re-sending the
batch on the wire, taking a 4xx for sent, answering 250 before the commit and queueing a post's
copies after its outcome were each caught by the short run.
"""
from __future__ import annotations

import re
import sqlite3
from collections import Counter, defaultdict
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timezone

from proof.campaign import PENDING_SLACK, Incarnation, Run
from proof.mails import LIST, CampaignMail, members
from proof.sink import ACCEPTED, DROPPED, REFUSED, TEMPFAIL, Copy

OUTCOME_LINE = re.compile(r"event=outcome id=(\d+)\b")
RESULT_LINE = re.compile(r"event=(?:sent|send_\w+) outbox=(\d+)\b")
RELAYED = re.compile(r"relayed to (\d+) members")
HEADLINE = ("crash_rounds", "crash_inbound_lost", "crash_inbound_twice", "crash_outbound_lost", "crash_outbound_twice",
            "crash_outbound_window")


@dataclass
class Verdict:
    figures: dict[str, object] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def ordered(self) -> list[tuple[str, object]]:
        """The figures issue 9 asks for first, then the ones that say what the run did."""
        rest = [(k, v) for k, v in self.figures.items() if k not in HEADLINE and k != "seed"]
        return [(k, self.figures[k]) for k in HEADLINE] + rest

    def passed(self, kills: int) -> bool:
        zeros = ("crash_inbound_lost", "crash_inbound_twice", "crash_outbound_lost", "crash_outbound_twice",
                 "inbound_unsent", "inbound_unexpected_outcome", "outbound_unmatched", "bot_exits_by_itself")
        return self.figures["crash_rounds"] >= kills and all(self.figures[name] == 0 for name in zeros)


def judge(run: Run) -> Verdict:
    verdict = Verdict()
    verdict.figures.update(seed=run.plan.seed, mails=len(run.mails), crash_rounds=run.crash_rounds)
    copies = run.sink.copies()
    logs = [i.log.read_text(errors="replace") for i in run.incarnations]
    with closing(sqlite3.connect(run.database, timeout=30)) as db:
        db.row_factory = sqlite3.Row
        inbound = _judge_inbound(run, db, logs, verdict.problems)
        outbound = _judge_outbound(run, db, copies, logs, verdict.problems)
        during = _kill_context(run, db, copies)
    verdict.figures.update(inbound | outbound | during)
    verdict.figures.update(
        inbound_accepted=sum(1 for d in run.mta.deliveries.values() if d.accepted_at is not None),
        inbound_attempts=sum(d.attempts for d in run.mta.deliveries.values()),
        sink_transactions=sum(1 for c in copies if c.outcome != REFUSED),
        sink_tempfail=sum(1 for c in copies if c.outcome == TEMPFAIL),
        sink_dropped=sum(1 for c in copies if c.outcome == DROPPED),
        sink_refused_rcpt=sum(1 for c in copies if c.outcome == REFUSED),
        bot_processes=len(run.incarnations),
        bot_exits_by_itself=sum(1 for i in run.incarnations if i.exited_by_itself))
    for kind, count in sorted(Counter(m.kind for m in run.mails).items()):
        verdict.figures[f"mix_{kind.replace('-', '_')}"] = count
    return verdict


def _kill_context(run: Run, db: sqlite3.Connection, copies: list[Copy]) -> dict:
    """What each kill interrupted: the MTA got a 250 within the second before it (receiving), mail
    was stored and not yet decided (processing), the killed process's copies reached the sink
    within the second before it (sending)."""
    accepted = [d.accepted_at for d in run.mta.deliveries.values() if d.accepted_at is not None]
    spans = [(_moment(r[0]), _moment(r[1])) for r in db.execute("select received_at, finished_at from inboundmessage")]
    sent = defaultdict(list)
    for copy in copies:
        sent[copy.epoch].append(copy.t)
    counts = Counter()
    for process in (i for i in run.incarnations if i.killed):
        kill = process.ended
        counts["receiving"] += any(kill - 1 < t <= kill for t in accepted)
        counts["processing"] += any(start < kill and (end is None or end > kill) for start, end in spans)
        counts["sending"] += any(kill - 1 < t <= kill for t in sent[process.number])
    return {f"kills_while_{what}": counts[what] for what in ("receiving", "processing", "sending")}


# -- inbound ----------------------------------------------------------------------------------

def _judge_inbound(run: Run, db: sqlite3.Connection, logs: list[str], problems: list[str]) -> dict:
    rows = list(db.execute("select id, message_id, delivered_to, state, outcome, reason, next_attempt_at "
                           "from inboundmessage order by id"))
    stored = Stored(decided=Counter(r[0] for r in db.execute(
                        "select message_id from auditlog where action like 'inbound-%' and action != 'inbound-retry'")),
                    logged=Counter(int(found) for log in logs for found in OUTCOME_LINE.findall(log)))
    for row in rows:
        stored.by_copy[(row["message_id"], row["delivered_to"])].append(row)
        stored.by_mail[row["message_id"]].append(row)
    counts = Counter()
    for mail in run.mails:
        counts.update(_judge_mail(run, mail, stored, problems))
    ours = {m.message_id for m in run.mails}
    return {"crash_inbound_lost": counts["lost"], "crash_inbound_twice": counts["twice"],
            "inbound_rows": len(rows), "inbound_stray_rows": sum(1 for r in rows if r["message_id"] not in ours),
            "inbound_unsent": counts["unsent"], "inbound_pending": counts["pending"],
            "inbound_unexpected_outcome": counts["unexpected"]}


@dataclass
class Stored:
    """What the database and the logs hold about received mail, by Message-ID."""

    decided: Counter  # inbound-* audit entries
    logged: Counter  # `outcome` log lines, by row id
    by_copy: dict = field(default_factory=lambda: defaultdict(list))  # (Message-ID, delivered to) -> rows
    by_mail: dict = field(default_factory=lambda: defaultdict(list))  # Message-ID -> rows


def _judge_mail(run: Run, mail: CampaignMail, stored: Stored, problems: list[str]) -> Counter:
    """One mail: each list address's copy stored and decided once (or why not)."""
    counts, delivery = Counter(), run.mta.deliveries[mail.index]
    if delivery.accepted_at is None or delivery.refused:
        problems.append(f"mail {mail.index} ({mail.kind}) {mail.message_id} never got 250: "
                        f"{delivery.refused or delivery.errors[-5:]}")
        return Counter(unsent=1)
    stored_twice = 0
    for rcpt, expected in zip(mail.rcpts, mail.expected):
        found = stored.by_copy.get((mail.message_id, rcpt.lower()), [])
        stored_twice += max(0, len(found) - 1)
        counts[_inbound_state(mail, rcpt, expected, found, run, problems)] += 1
    rows = stored.by_mail[mail.message_id]
    twice = max(stored_twice, stored.decided[mail.message_id] - len(rows),
                sum(max(0, stored.logged[r["id"]] - 1) for r in rows))
    if twice:
        counts["twice"] += twice
        problems.append(f"inbound twice: mail {mail.index} ({mail.kind}) {mail.message_id}: {len(rows)} rows, "
                        f"{stored.decided[mail.message_id]} decisions, outcome lines "
                        f"{[stored.logged[r['id']] for r in rows]}")
    return counts


def _inbound_state(mail: CampaignMail, rcpt: str, expected: str, found: list, run: Run,
                   problems: list[str]) -> str:
    """lost, pending (a failed stage waits for its retry), unexpected or ok, for one stored copy."""
    if not found:
        problems.append(f"inbound lost: mail {mail.index} ({mail.kind}) {mail.message_id} to {rcpt}: "
                        "250 given, nothing stored")
        return "lost"
    row = found[0]
    if row["state"] != "done":
        retry = _moment(row["next_attempt_at"])
        if retry is not None and retry > run.drain_ended - PENDING_SLACK:
            return "pending"
        problems.append(f"inbound lost: #{row['id']} mail {mail.index} ({mail.kind}) stored, never decided")
        return "lost"
    if row["outcome"] != expected:
        problems.append(f"inbound #{row['id']} mail {mail.index} ({mail.kind}) to {rcpt}: {row['outcome']} "
                        f"({row['reason']}), expected {expected}")
        return "unexpected"
    return "ok"


# -- outbound ---------------------------------------------------------------------------------

def _judge_outbound(run: Run, db: sqlite3.Connection, copies: list[Copy], logs: list[str],
                    problems: list[str]) -> dict:
    rows = list(db.execute("select id, dedupe_key, kind, recipient, envelope_from, message_id, status, "
                           "next_attempt_at, sent_at, attempts, last_error, job_id from outboxmessage order by id"))
    arrived = defaultdict(list)
    for copy in sorted((c for c in copies if c.outcome == ACCEPTED), key=lambda c: c.t):
        arrived[copy.key].append(copy)
    keyed = {_row_key(row): row for row in rows}
    if len(keyed) != len(rows):
        problems.append(f"{len(rows) - len(keyed)} outbox rows share a Message-ID, recipient and envelope sender")
    dead = set(members(run.plan.members).dead)
    counts = Counter(_outbound_state(row, arrived.get(_row_key(row), []), dead, run, problems) for row in rows)
    counts["lost"] += _missing_rows(run, db, rows, problems)
    bounds = _commit_bounds(run.incarnations, rows)
    unrecorded = _unrecorded(copies, keyed, logs, bounds)
    counts.update(_duplicates(run, rows, arrived, bounds, unrecorded, logs, problems))
    unmatched = [key for key in arrived if key not in keyed]
    for key in unmatched[:10]:
        problems.append(f"a copy at the sink matches no outbox row: {key}")
    return {"crash_outbound_lost": counts["lost"], "crash_outbound_twice": counts["twice"],
            "crash_outbound_window": counts["window"], "outbound_rows": len(rows),
            "outbound_unrecorded_at_kill_max": max((len(ids) for ids in unrecorded.values()), default=0),
            "outbound_sent": counts["sent"], "outbound_copies": sum(len(v) for v in arrived.values()),
            "outbound_refused_by_design": counts["refused"], "outbound_pending": counts["pending"],
            "outbound_unmatched": len(unmatched)}


def _duplicates(run: Run, rows: list[sqlite3.Row], arrived: dict, bounds: dict[int, float],
                unrecorded: dict[int, set[int]], logs: list[str], problems: list[str]) -> Counter:
    """Each copy that arrived again, as `window` or `twice` (the rule in the module docstring)."""
    counts, window = Counter(), defaultdict(set)
    for row in rows:
        got = arrived.get(_row_key(row), [])
        for first, again in zip(got, got[1:]):
            if _in_window(first, again, run.incarnations, bounds):
                window[first.epoch].add(row["id"])  # one per row and kill: the next copy is a later process's
            else:
                counts["twice"] += 1
                problems.append(_twice_report(row, got, run, bounds, logs))
    for epoch, ids in window.items():
        if len(unrecorded[epoch]) <= run.plan.batch_size:
            counts["window"] += len(ids)
            continue
        counts["twice"] += len(ids)  # more than one batch was on the wire unrecorded: the promise is broken
        problems.append(f"kill of process {epoch}: {len(unrecorded[epoch])} rows attempted after its last "
                        f"commit and never recorded, more than one batch ({run.plan.batch_size}); "
                        f"{len(ids)} of them arrived twice: {sorted(ids)[:20]}")
    return counts


def _row_key(row: sqlite3.Row) -> tuple[str, str, str]:
    return row["message_id"], row["recipient"].lower(), row["envelope_from"].lower()


def _outbound_state(row: sqlite3.Row, got: list[Copy], dead: set[str], run: Run, problems: list[str]) -> str:
    status = row["status"]
    if status == "sent" and got:
        return "sent"
    if status == "bounced" and row["recipient"] in dead:
        return "refused"
    if status == "queued":
        retry = _moment(row["next_attempt_at"])
        if retry is not None and retry > run.drain_ended - PENDING_SLACK:
            return "pending"
    problems.append(f"outbound lost: outbox #{row['id']} {row['kind']} to {row['recipient']} {status}, "
                    f"{len(got)} copies at the sink, attempts {row['attempts']}, last error {row['last_error']!r}")
    return "lost"


def _commit_bounds(incarnations: list[Incarnation], rows: list[sqlite3.Row]) -> dict[int, float]:
    """For each process, the time of its last results commit that recorded a sent row (its start
    if none): the latest `sent_at` between its start and the next process's start."""
    bounds = {i.number: i.started for i in incarnations}
    starts = [i.started for i in incarnations]
    for row in rows:
        sent = _moment(row["sent_at"])
        if sent is None:
            continue
        number = max((i for i, start in enumerate(starts) if start <= sent), default=None)
        if number is not None:
            bounds[number] = max(bounds[number], sent)
    return bounds


def _unrecorded(copies: list[Copy], keyed: dict, logs: list[str], bounds: dict[int, float]) -> dict[int, set[int]]:
    """For each process, the rows it tried to deliver after its last results commit whose result it
    never recorded: more transactions at the sink than result lines in its log. Under the promise
    these are one batch at most (a delivery that never reached the sink only makes this smaller)."""
    tried, late = Counter(), defaultdict(set)
    for copy in copies:
        row = keyed.get(copy.key)
        if row is None or copy.outcome == REFUSED:
            continue
        tried[(copy.epoch, row["id"])] += 1
        if copy.t > bounds[copy.epoch]:
            late[copy.epoch].add(row["id"])
    recorded = Counter((epoch, int(found)) for epoch, log in enumerate(logs) for found in RESULT_LINE.findall(log))
    return defaultdict(set, {epoch: {r for r in ids if tried[(epoch, r)] > recorded[(epoch, r)]}
                             for epoch, ids in late.items()})


def _in_window(first: Copy, again: Copy, incarnations: list[Incarnation], bounds: dict[int, float]) -> bool:
    process = incarnations[first.epoch]
    return process.killed and again.epoch > first.epoch and first.t > bounds[first.epoch]


def _missing_rows(run: Run, db: sqlite3.Connection, rows: list[sqlite3.Row], problems: list[str]) -> int:
    """Rows a decision promised that are not in the outbox: the answer was lost with the crash."""
    keys = {row["dedupe_key"] for row in rows}
    per_job = Counter(row["job_id"] for row in rows if row["job_id"] is not None)
    jobs = {r[0]: r[1] for r in db.execute("select inbound_id, id from sendjob")}
    staying = len(members(run.plan.members).staying)
    missing = 0
    for row in db.execute("select id, delivered_to, outcome, reason from inboundmessage where outcome is not null"):
        promised = _promised(row, keys, per_job, jobs, staying)
        if promised:
            missing += promised
            problems.append(f"outbound lost: inbound #{row['id']} ({row['reason']}) promised {promised} "
                            "more outbox rows than there are")
    return missing


def _promised(row: sqlite3.Row, keys: set[str], per_job: Counter, jobs: dict[int, int], staying: int) -> int:
    """How many rows that this decision must have queued are missing."""
    reason, inbound_id = row["reason"] or "", row["id"]
    relayed = RELAYED.fullmatch(reason)
    if row["outcome"] == "handled" and relayed and row["delivered_to"] == LIST:
        wanted = max(int(relayed.group(1)), staying)
        return max(0, wanted - per_job[jobs.get(inbound_id)])
    if row["outcome"] == "handled" and reason == "help sent":
        return 0 if f"reply:{inbound_id}:help" in keys else 1
    if row["outcome"] == "rejected" and reason.startswith("wrong-sender"):
        return 0 if f"reply:{inbound_id}:refusal:wrong-sender" in keys else 1
    return 0


def _twice_report(row: sqlite3.Row, got: list[Copy], run: Run, bounds: dict[int, float], logs: list[str]) -> str:
    """Everything needed to reproduce and explain a copy that arrived twice outside the window."""
    arrivals = ", ".join(f"t={c.t:.3f} process={c.epoch}" for c in got)
    processes = "; ".join(f"process {i.number}: {i.started:.3f}-{(i.ended or 0):.3f} "
                          f"{'killed' if i.killed else 'stopped'}, last commit {bounds[i.number]:.3f}"
                          for i in run.incarnations if any(c.epoch == i.number for c in got))
    pattern = re.compile(rf"^.*\boutbox(?:=| #){row['id']}\b.*$", re.M)
    lines = [f"[process {n}] {line}" for n, log in enumerate(logs) for line in pattern.findall(log)]
    return (f"outbound twice (seed {run.plan.seed}): outbox #{row['id']} {row['kind']} to {row['recipient']} "
            f"{row['message_id']}: arrivals {arrivals}; {processes}; log: {lines[:12]}")


def _moment(value: str | None) -> float | None:
    """A database time (naive UTC text) as seconds since the epoch."""
    if not value:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=timezone.utc).timestamp()
