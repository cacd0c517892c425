"""Kafka client options reach the workers as a factory, never as credentials in the graph.

The realtime pipeline passes `WorkerClientConfig` into its Kafka transforms; each worker
builds its clients' options from its own environment (end to end over SASL_SSL on Flink:
tests/pipelines/test_secured_kafka.py).
"""

from __future__ import annotations

import pickle

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from tradestream.kafka_clients.config import WorkerClientConfig
from tradestream.pipelines.realtime import build
from tradestream.settings import get_settings
from tradestream.strategies import library
from tradestream.transforms.kafka_io import ReadTrades, WriteDeadLetters, WriteSignals

PASSWORD = "pw-that-must-stay-on-the-worker-5f1c"


def _applied(pipeline: beam.Pipeline) -> list:
    found, stack = [], [pipeline._root_transform()]
    while stack:
        node = stack.pop()
        found.append(node.transform)
        stack.extend(node.parts)
    return found


@pytest.fixture
def sasl_environment(monkeypatch):
    """A worker environment with SASL credentials (settings are read once per process)."""
    monkeypatch.setenv("TRADESTREAM_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("TRADESTREAM_KAFKA_SASL_USERNAME", "trader")
    monkeypatch.setenv("TRADESTREAM_KAFKA_SASL_PASSWORD", PASSWORD)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_the_realtime_graph_carries_the_worker_factory_and_no_credentials(sasl_environment):
    options = PipelineOptions(["--bootstrap_servers=broker:9093", "--checkpoint_interval=0"])
    p = beam.Pipeline(options=options)
    build(p, options, [library.build("SMA_CROSSOVER")])

    kafka_steps = [
        t for t in _applied(p) if isinstance(t, ReadTrades | WriteSignals | WriteDeadLetters)
    ]
    assert sorted(type(t).__name__ for t in kafka_steps) == [
        "ReadTrades",
        "WriteDeadLetters",
        "WriteSignals",
    ]
    for step in kafka_steps:
        factory = (
            step._config.client_config if isinstance(step, ReadTrades) else step._client_config
        )
        assert isinstance(factory, WorkerClientConfig), type(step).__name__
        # what Beam pickles into the graph for the step's clients
        carried = step._config if isinstance(step, ReadTrades) else factory
        assert PASSWORD.encode() not in pickle.dumps(carried)


def test_the_factory_pickles_without_state_and_compares_equal():
    factory = pickle.loads(pickle.dumps(WorkerClientConfig()))
    assert factory == WorkerClientConfig() and hash(factory) == hash(WorkerClientConfig())
    assert vars(factory) == {}
