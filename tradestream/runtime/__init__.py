"""What the pipelines need to run: the Flink runner, its workers, retained checkpoints.

    jvm.py          the Maven-resolved JVM cache (Kafka, Beam's Flink job server)
    flink.py        Flink runner arguments (embedded or a session cluster)
    workers.py      Python SDK workers as child processes (EXTERNAL environment)
    checkpoints.py  retained Flink checkpoints and resume
    errors.py       LocalRuntimeError

Sits beside transforms/, below pipelines/. May import: tradestream.kafka_clients and below.
"""
