"""The fetch loop's record of what it handed over, as shared.faust_transport corrects it.

faust's fetch loop drops a record whose offset is below the one it last handed to a stream;
after a seek that dropped records a restarted worker never processed (docs/faults.md,
finding 12). For stream topics the corrected mapping answers "nothing read yet", so every
record fetched again is handed over; a table's changelog keeps faust's rule.
"""

from __future__ import annotations

from faust.types import TP

from shared.faust_transport import _StreamOffsetsForgotten

CHANGELOG = "appeals-routing-appeal-inputs-changelog"


def offsets() -> _StreamOffsetsForgotten:
    return _StreamOffsetsForgotten(lambda topic: topic == CHANGELOG)


def test_a_stream_partition_never_blocks_a_record_fetched_again() -> None:
    read = offsets()
    stream = TP("appeals.events", 0)
    read[stream] = 13  # the loop handed over offset 13 (from a batch fetched before a seek)
    # The fetch loop's check: a record fetched again from offset 2 must still be handed over.
    assert read[stream] is None
    assert dict(read) == {stream: 13}  # what faust keeps is unchanged


def test_a_changelog_partition_keeps_fausts_rule() -> None:
    read = offsets()
    changelog = TP(CHANGELOG, 1)
    assert read[changelog] is None  # nothing read yet
    read[changelog] = 7
    assert read[changelog] == 7
