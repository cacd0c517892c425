"""Ingest counters: Prometheus text, the HTTP endpoint, rates and the log line."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request

import pytest

from tradestream.ingest.metrics import IngestMetrics, MetricsServer, RateTracker, summary_line

SAMPLE = re.compile(r'^[a-z_]+(\{[a-z_]+="[^"]*"\})? -?[0-9.e+-]+$')


def busy_metrics() -> IngestMetrics:
    metrics = IngestMetrics(kafka_errors=lambda: 2)
    for _ in range(3):
        metrics.trade("BTC-USD")
    metrics.trade("ETH-USD")
    metrics.duplicate("BTC-USD")
    metrics.bad_message("malformed")
    metrics.bad_message("malformed")
    metrics.bad_message("unexpected")
    metrics.reconnects = 4
    metrics.failed_connects = 5
    metrics.connections, metrics.connections_wanted = 1, 2
    return metrics


def test_prometheus_text_has_typed_families_and_labelled_samples():
    text = busy_metrics().render_prometheus()
    lines = text.splitlines()
    assert text.endswith("\n")
    for line in lines:
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or SAMPLE.match(line), line
    assert 'tradestream_ingest_trades_total{symbol="BTC-USD"} 3' in lines
    assert 'tradestream_ingest_trades_total{symbol="ETH-USD"} 1' in lines
    assert 'tradestream_ingest_duplicates_total{symbol="BTC-USD"} 1' in lines
    assert 'tradestream_ingest_malformed_total{reason="malformed"} 2' in lines
    assert "tradestream_ingest_reconnects_total 4" in lines
    assert "tradestream_ingest_failed_connects_total 5" in lines
    assert "tradestream_ingest_kafka_errors_total 2" in lines
    assert "# TYPE tradestream_ingest_connections gauge" in lines
    types = [line.split()[2] for line in lines if line.startswith("# TYPE")]
    assert len(types) == len(set(types))


def test_prometheus_label_values_are_escaped():
    metrics = IngestMetrics()
    metrics.bad_message('say "hi"\\')
    assert 'reason="say \\"hi\\"\\\\"' in metrics.render_prometheus()


def test_rate_tracker_gives_trades_per_second_since_last_tick(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    metrics = IngestMetrics()
    tracker = RateTracker(metrics)
    for _ in range(20):
        metrics.trade("BTC-USD")
    clock[0] += 2.0
    assert tracker.tick() == {"BTC-USD": 10.0}
    clock[0] += 1.0
    assert tracker.tick() == {"BTC-USD": 0.0}
    assert metrics.rates == {"BTC-USD": 0.0}


def test_summary_line_names_rates_and_health_counters():
    line = summary_line(busy_metrics(), {"BTC-USD": 12.5, "ETH-USD": 1.0})
    assert line.startswith("BTC-USD=12.5/s ETH-USD=1.0/s | trades 4 | connections 1/2")
    for part in (
        "reconnects 4",
        "failed connects 5",
        "duplicates 1",
        "malformed 3",
        "kafka errors 2",
    ):
        assert part in line


def test_metrics_server_serves_metrics_and_health_on_loopback():
    metrics = busy_metrics()
    server = MetricsServer(metrics, port=0).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            body = response.read().decode()
        assert 'tradestream_ingest_trades_total{symbol="BTC-USD"} 3' in body
        metrics.trade("BTC-USD")  # live: the next scrape sees it
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
            assert 'tradestream_ingest_trades_total{symbol="BTC-USD"} 4' in response.read().decode()
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
            assert response.read() == b"ok\n"
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"{base}/nope", timeout=5)
        assert info.value.code == 404
    finally:
        server.stop()
