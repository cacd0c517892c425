"""Where every record of a replay went: sent, dead-lettered with its reason, or skipped.

A replay reads records (the rows of a trades file, the sample's trades, the trades and bad bars
of OHLC files), and each record read ends in exactly one place:

- **sent** to the trades topic,
- **dead-lettered** to the dead-letter topic, counted by reason,
- **skipped by resume**, because an earlier run already sent it (`resume.ResumeStats`),
- or, when the replay is stopped (SIGTERM, Ctrl-C), **left** unsent: read ahead of the stop;
  a restart resumes before it.

`ReplayAccount` counts the records as they are read (`reading`) and as the replay hands them to
the producer (`sent`, `dead_lettered`); `unaccounted` is what is in none of those places, which
must be 0 at the end of a replay that was not stopped. The summary (one line) says it all:

    21 rows: 15 sent, 6 dead-lettered to trades-dlq (invalid_price 6),
             0 already on the topic skipped

    account = ReplayAccount(resume=ResumeStats())
    records = skip_already_sent(account.reading(read_trades(path)), tail.last_trade, account.resume)
    replay(records, producer, account=account)
    print(account.summary("rows"))
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from tradestream.ingest.resume import ResumeStats

T = TypeVar("T")


@dataclass
class ReplayAccount:
    """Counts of what became of each record a replay read.

    Args:
        resume: what resuming skipped; None when the replay does not resume (`--no_resume`).
    """

    resume: ResumeStats | None = None
    read: int = 0
    sent_trades: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)  # per reason
    stopped: bool = False  # the replay ended before its input did

    def reading(self, records: Iterable[T]) -> Iterator[T]:
        """`records`, counting each one as it is read."""
        for record in records:
            self.read += 1
            yield record

    def sent(self) -> None:
        self.sent_trades += 1

    def dead_lettered(self, reason: str) -> None:
        self.dead_letters[reason] = self.dead_letters.get(reason, 0) + 1

    @property
    def dead_lettered_total(self) -> int:
        return sum(self.dead_letters.values())

    @property
    def skipped(self) -> int:
        return self.resume.total_skipped if self.resume is not None else 0

    @property
    def unaccounted(self) -> int:
        """Records read but neither sent, dead-lettered nor skipped."""
        return self.read - self.sent_trades - self.dead_lettered_total - self.skipped

    @property
    def balanced(self) -> bool:
        """Every record read is accounted for (or the replay was stopped part way)."""
        return self.unaccounted == 0 or (self.stopped and self.unaccounted > 0)

    def summary(self, unit: str = "rows", dlq_topic: str | None = None) -> str:
        """`21 rows: 15 sent, 6 dead-lettered (invalid_price 6), 0 already on the topic skipped`.

        Args:
            unit: what a record is called in this source (`rows`, `records`).
            dlq_topic: the dead-letter topic, named in the line when given.
        """
        dead = f"{self.dead_lettered_total} dead-lettered"
        if dlq_topic:
            dead += f" to {dlq_topic}"
        if self.dead_letters:
            dead += f" ({_by_count(self.dead_letters)})"
        parts = [f"{self.sent_trades} sent", dead]
        if self.resume is None:
            parts.append("0 skipped (--no_resume)")
        else:
            skipped = f"{self.resume.total_skipped} already on the topic skipped"
            if self.resume.skipped_dead_letters:
                skipped += (
                    f" ({self.resume.skipped_trades} trades, {self.resume.skipped_dead_letters} "
                    f"bad rows dead-lettered before: {_by_count(self.resume.skipped_bad_rows)})"
                )
            parts.append(skipped)
        left = self.unaccounted
        if left and self.stopped and left > 0:
            parts.append(f"{left} read but left for a restart")
        elif left:
            parts.append(f"{left} UNACCOUNTED FOR")
        return f"{self.read} {unit}: {', '.join(parts)}"


def _by_count(counts: dict[str, int]) -> str:
    """`invalid_price 5, malformed 1`: most frequent first."""
    return ", ".join(f"{k} {n}" for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


__all__ = ["ReplayAccount"]
