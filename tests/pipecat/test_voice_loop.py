"""Our STT and TTS in one Pipecat pipeline: ``SmallestSTTService`` → a scripted LLM →
``SmallestTTSService``. The user's turn goes in as Pipecat's VAD frames around
``UserAudioRawFrame``\\ s; the transcript comes out as a ``TranscriptionFrame`` and the
answer as the TTS's audio and word frames.

The tone engine makes both ends exact: the transcript is one ``tag<value>`` per 200 ms
tone word, and the answer's audio is one tone word per spoken word.
"""

from __future__ import annotations

import time

from pipecat.frames.frames import (
    Frame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
    UserAudioRawFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from pipecat_smallest import SmallestSTTService, SmallestTTSService
from smallest_local import Server
from smallest_local.engines import ToneEngine, describe, tone_word
from tests.support.pipecat import running

RATE = 16000
OUT_RATE = 24000
ANSWERS = ["We open at nine.", "Tickets are twelve dollars."]


def tone(*tags: str) -> bytes:
    return b"".join(
        ToneEngine().synthesize("w", voice_id="", sample_rate=RATE, tag=tag).pcm for tag in tags
    )


def turn(pcm: bytes) -> list[Frame]:
    """One user turn as a transport and Pipecat's VAD deliver it."""
    step = RATE // 50 * 2
    audio = [
        UserAudioRawFrame(audio=pcm[i : i + step], sample_rate=RATE, num_channels=1, user_id="bob")
        for i in range(0, len(pcm), step)
    ]
    stopped = VADUserStoppedSpeakingFrame(stop_secs=0.2, timestamp=time.time())
    return [VADUserStartedSpeakingFrame(), *audio, stopped]


class ScriptedLLM(FrameProcessor):
    """Answers each final transcript with the next reply, as an LLM's token stream."""

    def __init__(self, *replies: str) -> None:
        super().__init__()
        self.replies = list(replies)
        self.heard: list[str] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, TranscriptionFrame) and self.replies:
            self.heard.append(frame.text)
            words = self.replies.pop(0).split(" ")
            await self.push_frame(LLMFullResponseStartFrame())
            for token in [words[0], *(" " + w for w in words[1:])]:
                await self.push_frame(LLMTextFrame(token))
            await self.push_frame(LLMFullResponseEndFrame())


def plain(text: str) -> list[str]:
    return [w.strip(".,").lower() for w in text.split()]


async def test_heard_question_is_answered_aloud_turn_after_turn(smallest_server: Server):
    stt = SmallestSTTService(api_key=smallest_server.api_key, base_url=smallest_server.ws_url)
    model = ScriptedLLM(*ANSWERS)
    tts = SmallestTTSService(api_key=smallest_server.api_key, base_url=smallest_server.ws_url)
    async with running(Pipeline([stt, model, tts]), sample_rate=OUT_RATE) as run:
        await run.send(*turn(tone("when", "open")))
        await run.turns_done(1)
        await run.send(*turn(tone("how", "much", "is", "it")))
        await run.turns_done(2)
    assert not run.errors()

    transcripts = run.down.frames(TranscriptionFrame)
    assert [plain(f.text) for f in transcripts] == [
        [tone_word("when"), tone_word("open")],
        [tone_word("how"), tone_word("much"), tone_word("is"), tone_word("it")],
    ]
    assert {f.user_id for f in transcripts} == {"bob"} and all(f.finalized for f in transcripts)
    assert [plain(t) for t in model.heard] == [plain(f.text) for f in transcripts]

    # each answer spoken whole, in order: its words as TTS text, one tone word per word
    spoken = " ".join(f.text for f in run.down.frames(TTSTextFrame)).split()
    assert spoken == " ".join(ANSWERS).split()
    by_context = run.audio_by_context()
    assert len(by_context) == 2
    pairs = ToneEngine().pairs_per_word(OUT_RATE)
    for answer, ctx in zip(ANSWERS, run.context_ids(), strict=True):
        (runs,) = describe(by_context[ctx]).values()
        assert runs == [(0, pairs * len(answer.split()))]
    assert {f.sample_rate for f in run.down.frames(TTSAudioRawFrame)} == {OUT_RATE}
    # the transcript came before the answer's first audio
    order = [type(s.frame) for s in run.down.seen]
    assert order.index(TranscriptionFrame) < order.index(TTSAudioRawFrame)
