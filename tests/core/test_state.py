"""The per-utterance transition table of state.py, driven directly (like h11's test_state)."""

from __future__ import annotations

import itertools

import pytest

from smallest_core.errors import InvalidState
from smallest_core.state import TERMINAL, TRANSITIONS, Action, UtteranceState, transition

S = UtteranceState
A = Action
ALL_PAIRS = list(itertools.product(S, A))


class TestTable:
    """The table is the whole truth: every state has a row; terminal states stay put."""

    def test_every_state_has_a_row(self):
        assert set(TRANSITIONS) == set(S)

    def test_happy_path(self):
        state = S.OPEN
        for action in (A.SEND_TEXT, A.FLUSH, A.SEND_TEXT, A.END, A.COMPLETE):
            state = transition(state, action, "u-1")
        assert state is S.DONE

    def test_open_utterance_may_fail_or_be_cancelled(self):
        assert transition(S.OPEN, A.ERROR, "u") is S.FAILED
        assert transition(S.OPEN, A.CANCEL, "u") is S.CANCELLED

    def test_ending_utterance_waits_only_for_the_server_or_a_cancel(self):
        assert TRANSITIONS[S.ENDING] == {
            A.CANCEL: S.CANCELLED,
            A.COMPLETE: S.DONE,
            A.ERROR: S.FAILED,
        }

    @pytest.mark.parametrize("state", sorted(TERMINAL, key=lambda s: s.value))
    def test_no_action_leaves_a_terminal_state(self, state: UtteranceState):
        assert all(nxt is state for nxt in TRANSITIONS[state].values())

    @pytest.mark.parametrize("state", list(S))
    def test_cancel_is_legal_everywhere(self, state: UtteranceState):
        assert A.CANCEL in TRANSITIONS[state]

    def test_complete_never_ends_an_open_utterance(self):
        # §12: per-release completes while text may still come are the protocol's to drop.
        assert A.COMPLETE not in TRANSITIONS[S.OPEN]

    def test_failed_absorbs_late_sends(self):
        for action in (A.SEND_TEXT, A.FLUSH, A.END):
            assert transition(S.FAILED, action, "u") is S.FAILED


class TestIllegalMoves:
    """An illegal move raises InvalidState naming the action, the id and the state."""

    @pytest.mark.parametrize(
        ("state", "action"),
        [(s, a) for s, a in ALL_PAIRS if a not in TRANSITIONS[s]],
        ids=lambda v: getattr(v, "name", str(v)),
    )
    def test_every_pair_missing_from_the_table_raises(self, state: UtteranceState, action: Action):
        with pytest.raises(InvalidState) as info:
            transition(state, action, "u-42")
        message = str(info.value)
        assert action.value in message and "u-42" in message and state.name in message
        assert info.value.request_id == "u-42" and not info.value.retryable

    def test_send_after_end_is_a_caller_bug(self):
        with pytest.raises(InvalidState, match=r"cannot send_text request 'u-1': it is ENDING"):
            transition(S.ENDING, A.SEND_TEXT, "u-1")

    def test_actions_may_be_given_by_name(self):
        assert transition(S.OPEN, "end", "u") is S.ENDING

    def test_unknown_action_name_raises(self):
        with pytest.raises(InvalidState, match="unknown action 'pause'"):
            transition(S.OPEN, "pause", "u")
