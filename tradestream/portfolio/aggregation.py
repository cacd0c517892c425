"""Weighted vote across strategies for one symbol (`--aggregation vote`).

Every strategy's latest signal on a symbol is its standing vote: +1 after a BUY, -1 after a
SELL, until its next signal. With weight w_s (`--weight PATTERN=W`, default 1) and
confidence c_s of that signal, the symbol's score is

    score = sum(w_s * c_s * v_s) / sum(w_s)        over the strategies that voted (-1..1)

and after each vote the one `vote` book of the symbol acts on it:

    score >= +threshold  -> BUY  (open a long; with shorting, cover a short first)
    score <= -threshold  -> SELL (close the long; with shorting, open a short)
    otherwise            -> nothing: the position is held (a band against flip-flopping)

Signals the filters reject (strategy, symbol, min confidence) do not vote.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

VOTE_BOOK = "vote"


@dataclass(frozen=True)
class Vote:
    vote: int  # +1 BUY, -1 SELL
    confidence: float
    weight: float
    time_ms: int

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class VoteBook:
    votes: dict[str, dict[str, Vote]] = field(default_factory=dict)  # symbol -> strategy -> vote

    def cast(self, symbol: str, strategy_id: str, vote: Vote) -> None:
        self.votes.setdefault(symbol, {})[strategy_id] = vote

    def score(self, symbol: str) -> float:
        votes = self.votes.get(symbol, {}).values()
        total = sum(v.weight for v in votes)
        if total <= 0:
            return 0.0
        return sum(v.weight * v.confidence * v.vote for v in votes) / total

    @staticmethod
    def decide(score: float, threshold: float) -> str | None:
        if score >= threshold:
            return "BUY"
        if score <= -threshold:
            return "SELL"
        return None
