"""Kafka clients without Beam: client settings, stored positions, topic contracts.

    config.py         client options from settings (bootstrap, security, idempotent producer)
    properties.py     consumer and producer properties without connection or credentials
    offsets.py        a partition's offset range, asked again while a new topic's leader settles
    positions.py      committed/stored offsets checked against the topic (recreated, truncated)
    tail.py           read_range: partitions read between two offsets (the one "read to the end")

May import: tradestream.market and the base (settings, v1). No Beam.
"""
