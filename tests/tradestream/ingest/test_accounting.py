"""The replay account: every record read is sent, dead-lettered or skipped, and the line says so."""

from __future__ import annotations

from tradestream.ingest.accounting import ReplayAccount
from tradestream.ingest.resume import ResumeStats


def account_of(read: int, sent: int, letters: dict[str, int], resume: ResumeStats | None):
    account = ReplayAccount(resume=resume)
    list(account.reading(range(read)))
    for _ in range(sent):
        account.sent()
    for reason, n in letters.items():
        for _ in range(n):
            account.dead_lettered(reason)
    return account


def test_account_summary_names_every_count_and_the_reasons_most_frequent_first():
    account = account_of(21, 15, {"malformed": 1, "invalid_price": 5}, ResumeStats())
    assert account.balanced and account.unaccounted == 0
    assert account.summary("rows", "trades-dlq") == (
        "21 rows: 15 sent, 6 dead-lettered to trades-dlq (invalid_price 5, malformed 1), "
        "0 already on the topic skipped"
    )


def test_account_summary_resumed_splits_skipped_trades_and_bad_rows():
    resume = ResumeStats(skipped={"BTC-USD": 10, "ETH-USD": 5}, skipped_bad_rows={"malformed": 6})
    account = account_of(21, 0, {}, resume)
    assert account.balanced
    assert account.summary("rows") == (
        "21 rows: 0 sent, 0 dead-lettered, 21 already on the topic skipped "
        "(15 trades, 6 bad rows dead-lettered before: malformed 6)"
    )


def test_account_summary_without_resume_says_nothing_was_skipped():
    account = account_of(3, 2, {"invalid_size": 1}, None)
    assert account.summary("rows").endswith(", 0 skipped (--no_resume)")


def test_account_record_read_and_not_placed_is_unbalanced_and_said_so():
    account = account_of(5, 3, {"malformed": 1}, ResumeStats())
    assert not account.balanced and account.unaccounted == 1
    assert account.summary("rows").endswith("1 UNACCOUNTED FOR")


def test_account_stopped_replay_names_what_was_read_ahead():
    account = account_of(5, 3, {}, ResumeStats())
    account.stopped = True
    assert account.balanced
    assert account.summary("rows").endswith("2 read but left for a restart")
