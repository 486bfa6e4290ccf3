"""The per-utterance state machine, as one transition table.

What lives here: :class:`UtteranceState`, :class:`Action`, the table
:data:`TRANSITIONS` and :func:`transition`. What must not: frames, routing, or anything
about *which* complete ends which utterance (flush-mode bursts, per-release completes in
continuations) — :mod:`smallest_core.protocol` decides that and only then asks this
table. Rules of this file (after h11's ``_state.py``):

* The table is the whole truth: if a (state, action) pair is not in it, the action is
  illegal and :func:`transition` raises :class:`InvalidState` naming the action, the
  request id and the state.
* DONE, CANCELLED and FAILED are terminal: no action leaves them. ``cancel`` is
  idempotent — it is legal in every state and changes nothing once finished.
* FAILED also absorbs ``send_text``/``flush``/``end``: the failure reached the caller as
  an event, and a caller cannot see it before its next send (the race is inherent), so
  those sends are dropped instead of raising. After DONE or CANCELLED they are bugs.
* ``complete`` and ``error`` are the server's actions. The protocol only applies them to
  an utterance that is still waiting for them; a ``complete`` for an utterance that has
  not ended (OPEN) is dropped before it gets here (§12: a context may see one per release).
"""

from __future__ import annotations

from enum import Enum, StrEnum

from .errors import InvalidState

__all__ = ["TERMINAL", "TRANSITIONS", "Action", "UtteranceState", "transition"]


class UtteranceState(Enum):
    """Where one utterance is in its life."""

    #: Opened; text may be sent, flushed and ended.
    OPEN = "open"
    #: The closing frame was sent (or is not needed); waiting for the server's ``complete``.
    ENDING = "ending"
    #: ``complete`` arrived (or was produced locally for an empty utterance).
    DONE = "done"
    #: The caller cancelled it; nothing of it is reported any more.
    CANCELLED = "cancelled"
    #: An error frame for it, or a connection-wide failure.
    FAILED = "failed"


class Action(StrEnum):
    """What can happen to an utterance: four caller actions, two server actions."""

    SEND_TEXT = "send_text"
    FLUSH = "flush"
    END = "end"
    CANCEL = "cancel"
    COMPLETE = "complete"
    ERROR = "error"


_S = UtteranceState
_A = Action

#: state → {action → next state}. Anything missing is illegal.
TRANSITIONS: dict[UtteranceState, dict[Action, UtteranceState]] = {
    _S.OPEN: {
        _A.SEND_TEXT: _S.OPEN,
        _A.FLUSH: _S.OPEN,
        _A.END: _S.ENDING,
        _A.CANCEL: _S.CANCELLED,
        _A.ERROR: _S.FAILED,
    },
    _S.ENDING: {
        _A.CANCEL: _S.CANCELLED,
        _A.COMPLETE: _S.DONE,
        _A.ERROR: _S.FAILED,
    },
    _S.DONE: {
        _A.CANCEL: _S.DONE,
    },
    _S.CANCELLED: {
        _A.CANCEL: _S.CANCELLED,
    },
    _S.FAILED: {
        _A.SEND_TEXT: _S.FAILED,
        _A.FLUSH: _S.FAILED,
        _A.END: _S.FAILED,
        _A.CANCEL: _S.FAILED,
    },
}

#: States no action leaves.
TERMINAL: frozenset[UtteranceState] = frozenset({_S.DONE, _S.CANCELLED, _S.FAILED})


def transition(state: UtteranceState, action: Action | str, request_id: str) -> UtteranceState:
    """The state after ``action``, per :data:`TRANSITIONS`.

    Raises:
        InvalidState: the action is illegal in ``state``; the message names the action,
            the request id and the state.
    """
    try:
        act = Action(action)
    except ValueError:
        raise InvalidState(
            f"unknown action {action!r} for request {request_id!r}",
            request_id=request_id,
        ) from None
    nxt = TRANSITIONS[state].get(act)
    if nxt is None:
        raise InvalidState(
            f"cannot {act.value} request {request_id!r}: it is {state.name}",
            request_id=request_id,
        )
    return nxt
