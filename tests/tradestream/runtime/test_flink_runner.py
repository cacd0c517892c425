"""Beam pipelines run on the real Flink runner (embedded cluster, LOOPBACK workers)."""

from __future__ import annotations

import json

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from tradestream.runtime.flink import flink_runner_args, running_where
from tradestream.settings import get_settings

pytestmark = pytest.mark.integration


def test_flink_runner_runs_grouping_pipeline_and_writes_output(tmp_path, jvm_dir):
    out = tmp_path / "out"
    options = PipelineOptions(flink_runner_args(get_settings(), parallelism=2))
    with beam.Pipeline(options=options) as p:
        (
            p
            | "Create" >> beam.Create([("BTC-USD", 2.0), ("ETH-USD", 3.0), ("BTC-USD", 5.0)] * 10)
            | "SumPerSymbol" >> beam.CombinePerKey(sum)
            | "ToJson" >> beam.Map(lambda kv: json.dumps({"symbol": kv[0], "total": kv[1]}))
            | "Write" >> beam.io.WriteToText(str(out), file_name_suffix=".jsonl")
        )
    rows = [
        json.loads(line)
        for path in tmp_path.glob("out*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert sorted((r["symbol"], r["total"]) for r in rows) == [("BTC-USD", 70.0), ("ETH-USD", 30.0)]


def test_the_job_servers_start_up_wait_is_hidden_and_other_warnings_are_not(caplog):
    import logging

    from tradestream.runtime.flink import hide_job_server_wait

    root = logging.getLogger()
    before = list(root.filters)
    try:
        hide_job_server_wait()
        hide_job_server_wait()  # once only
        assert len(root.filters) == len(before) + 1
        with caplog.at_level(logging.WARNING):
            # What Beam's subprocess_server logs, on the root logger, while the JVM starts.
            logging.log(logging.WARNING, "Waiting for grpc channel to be ready at %s.", "x:1")
            logging.log(logging.WARNING, "Service failed to start up with error %s", 1)
        assert [r.getMessage() for r in caplog.records] == [
            "Service failed to start up with error 1"
        ]
    finally:
        root.filters[:] = before


def test_the_running_message_names_where_the_job_runs():
    assert running_where(PipelineOptions([])) == "an embedded Flink cluster (no web UI)"
    remote = PipelineOptions(["--runner=FlinkRunner", "--flink_master=jm:8081"])
    assert running_where(remote) == "Flink at jm:8081 (web UI: http://jm:8081)"
    # The chart's submission: a job server elsewhere, not an embedded cluster.
    portable = PipelineOptions(["--runner=PortableRunner", "--job_endpoint=js:8099"])
    assert running_where(portable) == "the Flink cluster of the job server at js:8099"
