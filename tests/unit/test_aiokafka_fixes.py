"""Which group-protocol errors shared.aiokafka_fixes rides out (pure logic, no I/O)."""

from __future__ import annotations

from aiokafka import errors

from shared.aiokafka_fixes import is_unexpected_answer


def test_an_answer_aiokafka_has_no_rule_for_is_ridden_out() -> None:
    # What aiokafka raises for a SyncGroup or JoinGroup answer with error code -1.
    assert is_unexpected_answer(errors.KafkaError(repr(errors.UnknownError())))


def test_errors_with_a_meaning_of_their_own_still_reach_the_user() -> None:
    for error in (
        errors.GroupAuthorizationFailedError("group"),
        errors.TopicAuthorizationFailedError("topic"),
        errors.InvalidSessionTimeoutError(),
        errors.InconsistentGroupProtocolError(),
        errors.UnknownError(),
    ):
        assert not is_unexpected_answer(error), error


def test_answers_in_a_row_back_off_up_to_a_ceiling() -> None:
    from shared.aiokafka_fixes import MAX_BACKOFF_S, Pacing

    pacing = Pacing()
    assert [pacing.next(now=float(t)) for t in range(3)] == [0.1, 0.2, 0.4]
    for second in range(3, 20):
        backoff = pacing.next(now=float(second))
    assert backoff == MAX_BACKOFF_S
    # Far apart, the count starts again.
    assert pacing.next(now=1000.0) == 0.1
