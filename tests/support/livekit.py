"""An ``AgentSession`` without a room: a capturing audio sink and a scripted LLM.

The sink records every frame LiveKit hands it (with the wall time) and reports playback
the way a real output does: finished after the captured audio's duration, or at once,
interrupted, when LiveKit clears the buffer. The LLM streams scripted replies token by
token. Everything else (turn scheduling, the TTS node, interruption, transcripts) is the
real framework.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from livekit import rtc
from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, llm
from livekit.agents.voice.io import AudioOutput, AudioOutputCapabilities


@dataclass
class Captured:
    """One frame as the sink received it."""

    frame: rtc.AudioFrame
    at: float  # time.monotonic() when captured


class CaptureOutput(AudioOutput):
    """An audio sink that records frames and plays them out on a simulated clock."""

    def __init__(self) -> None:
        super().__init__(label="capture", capabilities=AudioOutputCapabilities(pause=False))
        self.frames: list[Captured] = []
        self.first_frame = asyncio.Event()
        self.cleared_at: float | None = None
        self._pushed = 0.0
        self._finish: asyncio.TimerHandle | None = None
        self._started = False

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        self.frames.append(Captured(frame, time.monotonic()))
        self._pushed += frame.duration
        if not self._started:
            self._started = True
            self.on_playback_started(created_at=time.time())
        self.first_frame.set()

    def flush(self) -> None:
        super().flush()
        if not self._started:
            return
        pushed = self._pushed
        # playout takes as long as the audio; the loop's timer stands in for a speaker
        self._finish = asyncio.get_running_loop().call_later(
            min(pushed, 0.05), self._finished, pushed, False
        )

    def clear_buffer(self) -> None:
        if self._finish is not None:
            self._finish.cancel()
            self._finish = None
        self.cleared_at = time.monotonic()
        if self._started:
            self._finished(self._pushed, True)

    def _finished(self, position: float, interrupted: bool) -> None:
        self._finish = None
        self._started = False
        self._pushed = 0.0
        self.first_frame.clear()
        self.on_playback_finished(playback_position=position, interrupted=interrupted)

    def pcm(self, since: int = 0) -> bytes:
        """Captured audio (s16le) from frame index ``since`` on."""
        return b"".join(bytes(c.frame.data) for c in self.frames[since:])


class ScriptedLLM(llm.LLM):
    """Replies with the next scripted list of tokens, streamed one chunk per token."""

    def __init__(self, *replies: list[str]) -> None:
        super().__init__()
        self.replies = list(replies)

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[Any] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        **_: Any,
    ) -> llm.LLMStream:
        tokens = self.replies.pop(0) if self.replies else ["Okay."]
        return _ScriptedStream(
            self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options, tokens=tokens
        )


class _ScriptedStream(llm.LLMStream):
    def __init__(self, llm_: ScriptedLLM, *, tokens: list[str], **kwargs: Any) -> None:
        super().__init__(llm_, **kwargs)
        self._tokens = tokens

    async def _run(self) -> None:
        for token in self._tokens:
            self._event_ch.send_nowait(
                llm.ChatChunk(id="scripted", delta=llm.ChoiceDelta(role="assistant", content=token))
            )


def tags_by_request(request_ids: list[str]) -> dict[int, str]:
    """Tone tag value → the client request id it marks."""
    from smallest_local.engines import tag_value

    return {tag_value(rid): rid for rid in request_ids}


def strip_markers(frames: list[Captured]) -> list[Captured]:
    """Drop LiveKit's synthetic 10 ms end-of-segment silence markers."""
    return [
        c
        for c in frames
        if not (
            c.frame.samples_per_channel == c.frame.sample_rate // 100
            and not any(c.frame.data.tobytes())
        )
    ]


def pcm_of(frames: list[Captured]) -> bytes:
    """The s16le audio of ``frames``, markers excluded."""
    return b"".join(c.frame.data.tobytes() for c in strip_markers(frames))
