"""`python -m proof [--mails N --kills K --seed S ...]`: run the crash campaign (issue 9) and the
hostile-sender campaign (issue 10) and print one `name: value` line per figure; exit 1 if anything was
lost or doubled, too few kills were made, a spoof succeeded, generated mail raised, or a flood drew
more than the daily cap of automatic answers to one mailbox."""
from __future__ import annotations

import argparse
import shutil
import signal
import sys
import time
from pathlib import Path

from bot.actions.replies import DAILY_CAP
from proof import security
from proof.campaign import Plan, execute
from proof.verdict import judge


def parse(argv: list[str]) -> tuple[Plan, argparse.Namespace]:
    defaults = Plan()
    parser = argparse.ArgumentParser(prog="python -m proof", description=__doc__)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--mails", type=int, default=defaults.mails)
    parser.add_argument("--kills", type=int, default=defaults.kills)
    parser.add_argument("--members", type=int, default=defaults.members)
    parser.add_argument("--rate", type=float, default=defaults.rate, help="mails released per second")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--min-drain", type=float, default=defaults.min_drain)
    parser.add_argument("--max-drain", type=float, default=defaults.max_drain)
    parser.add_argument("--fuzz-cases", type=int, default=5000, help="generated mails for the hostile campaign")
    parser.add_argument("--timeout", type=float, default=14 * 60, help="the whole run, at most (seconds)")
    parser.add_argument("--workdir", type=Path, help="where the config, database, logs and sink records go "
                                                      "(default: a new temporary folder, removed if the proof holds)")
    args = parser.parse_args(argv)
    plan = Plan(seed=args.seed, mails=args.mails, kills=args.kills, members=args.members, rate=args.rate,
                batch_size=args.batch_size, min_drain=args.min_drain, max_drain=args.max_drain)
    return plan, args


def _give_up(*_: object) -> None:
    raise TimeoutError("the campaign ran out of time")


def security_held(figures: dict[str, int]) -> bool:
    """No forged action took effect, no generated mail raised, no mailbox got more than a day's cap."""
    return (figures["spoof_succeeded"] == 0 and figures["fuzz_unhandled"] == 0
            and figures["flood_answers_max"] <= DAILY_CAP)


def main(argv: list[str] | None = None) -> int:
    plan, args = parse(sys.argv[1:] if argv is None else argv)
    print(f"seed: {plan.seed}", flush=True)
    signal.signal(signal.SIGALRM, _give_up)  # every run ends by itself: the bot and sink are stopped on the way out
    signal.alarm(int(args.timeout))
    started = time.monotonic()
    try:
        run = execute(plan, args.workdir)
        verdict = judge(run)
    finally:
        signal.alarm(0)
    for name, value in verdict.ordered():
        print(f"{name}: {value}", flush=True)
    hostile = security.campaign(fuzz_cases=args.fuzz_cases)
    for name, value in hostile.items():
        print(f"{name}: {value}", flush=True)
    print(f"wall_seconds: {time.monotonic() - started:.0f}", flush=True)
    for problem in verdict.problems:
        print(problem, file=sys.stderr)
    if verdict.passed(plan.kills) and security_held(hostile):
        if args.workdir is None:
            shutil.rmtree(run.root, ignore_errors=True)
        return 0
    print(f"workdir: {run.root}", flush=True)  # the database, the bot's logs and the sink's records, to look into
    return 1


if __name__ == "__main__":
    sys.exit(main())
