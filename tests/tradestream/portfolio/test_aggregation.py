"""Weighted-vote aggregation across strategies on one symbol, hand-computed."""

from __future__ import annotations

import pytest

from tests.support.signals import event
from tradestream.portfolio.aggregation import VOTE_BOOK, Vote, VoteBook
from tradestream.portfolio.config import PortfolioConfig
from tradestream.portfolio.engine import PortfolioEngine


def test_vote_score_is_the_weighted_mean_of_confidence_times_direction():
    book = VoteBook()
    book.cast("X", "A", Vote(+1, 1.0, 2.0, 0))
    book.cast("X", "B", Vote(-1, 0.5, 1.0, 0))
    book.cast("X", "C", Vote(+1, 0.8, 1.0, 0))
    # (2*1*1 - 1*0.5 + 1*0.8) / (2 + 1 + 1) = 2.3 / 4
    assert book.score("X") == pytest.approx(0.575)
    assert VoteBook.decide(0.575, 0.5) == "BUY"
    assert VoteBook.decide(-0.5, 0.5) == "SELL"
    assert VoteBook.decide(0.2, 0.5) is None
    assert book.score("unknown") == 0.0


def test_vote_mode_trades_one_book_per_symbol_on_threshold_crossings():
    config = PortfolioConfig(
        aggregation="vote",
        vote_threshold=0.5,
        weights=(("A", 2.0),),
        fee=0.0,
        daily_loss_limit=0,
        weekly_loss_limit=0,
        max_drawdown=0,
    )
    eng = PortfolioEngine(config)
    seen: set[str] = set()
    steps = [
        event("BUY", 100.0, 0, "B"),  # B+1: score 1.0 -> BUY
        event("SELL", 101.0, 1, "A"),  # A-1 (w2): (-2 + 1)/3 = -0.333 -> hold
        event("SELL", 102.0, 2, "C"),  # C-1: (-2 + 1 - 1)/4 = -0.5 -> SELL
        event("BUY", 103.0, 3, "C", confidence=0.5),  # (-2 + 1 + 0.5)/4 = -0.125 -> hold
    ]
    out = [eng.on_signal(s, seen) for s in steps]
    assert out == [
        "vote:+1.000 filled:entry",
        "vote:-0.333:hold",
        "vote:-0.500 filled:exit",
        "vote:-0.125:hold",
    ]
    fills = eng.take_changes().fills
    assert [(f.book, f.side, f.price) for f in fills] == [
        (VOTE_BOOK, "BUY", 100.0),
        (VOTE_BOOK, "SELL", 102.0),
    ]


def test_vote_mode_low_confidence_signals_do_not_vote():
    config = PortfolioConfig(aggregation="vote", min_confidence=0.6)
    eng = PortfolioEngine(config)
    assert eng.on_signal(event("BUY", 100.0, 0, confidence=0.5), set()) == "ignored:confidence"
    assert eng.state.votes.votes == {}
