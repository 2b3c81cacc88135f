"""`bench strategies`: every strategy, whether it can run here, and what it honours."""

from __future__ import annotations

import argparse

from bench.cli.render import console, show, table


def add_arguments(p: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from bench import strategies

    con = console()
    t = table(con, "strategies")
    for col in ("name", "runs as", "available", "stops a hung trial", "what it is"):
        t.add_column(col)
    for name in strategies.names():
        cls = strategies.get(name)
        avail = cls.available()
        t.add_row(
            name, cls.kind, "yes" if avail.ok else f"no: {avail.reason}",
            "yes" if cls.can_stop_trial else "no (threads cannot be killed; run --timeout ends the run)",
            cls.summary,
        )
    show(con, t)
    return 0
