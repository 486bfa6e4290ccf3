"""Speech-to-text in a real Pipecat pipeline: the user's audio goes in as
``UserAudioRawFrame``\\ s between Pipecat's VAD frames, transcripts come out.

The tone engine makes transcripts exact (each 200 ms tone word slot is heard as
``tag<value>``); one test feeds espeak speech to pocketsphinx for real recognition.
"""

from __future__ import annotations

import time

import pytest
from pipecat.frames.frames import (
    ErrorFrame,
    Frame,
    InterimTranscriptionFrame,
    MetricsFrame,
    STTUpdateSettingsFrame,
    TextFrame,
    TranscriptionFrame,
    UserAudioRawFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.metrics.metrics import STTUsageMetricsData, TTFBMetricsData
from pipecat.transcriptions.language import Language
from pipecat.utils.errors import ErrorCategory

from pipecat_smallest import SmallestHttpSTTService, SmallestSTTService, SmallestSTTSettings
from smallest_core import FinalTranscript, InvalidOptionError, RetryPolicy, Transcription
from smallest_local import Server
from smallest_local.engines import ToneEngine, tone_word
from tests.support.pipecat import Run, running

RATE = 16000
FRAME = RATE // 50 * 2  # 20 ms of PCM s16, as a transport delivers it
WORD_S = 0.2


def tone(*tags: str, rate: int = RATE) -> bytes:
    """One tone word per tag (adjacent words need different tags to stay two words)."""
    return b"".join(
        ToneEngine().synthesize("w", voice_id="", sample_rate=rate, tag=tag).pcm for tag in tags
    )


def frames(pcm: bytes, user: str = "alice", rate: int = RATE) -> list[Frame]:
    step = rate // 50 * 2
    return [
        UserAudioRawFrame(audio=pcm[i : i + step], sample_rate=rate, num_channels=1, user_id=user)
        for i in range(0, len(pcm), step)
    ]


def turn(pcm: bytes, user: str = "alice") -> list[Frame]:
    """One user turn as Pipecat's VAD frames it: started, audio, stopped."""
    return [
        VADUserStartedSpeakingFrame(),
        *frames(pcm, user),
        VADUserStoppedSpeakingFrame(stop_secs=0.2, timestamp=time.time()),
    ]


async def settled(run: Run) -> None:
    """Wait until every non-system frame sent so far has been processed (a marker
    queued behind them reaches the end)."""
    marker = TextFrame("marker")
    await run.send(marker)
    await run.down.wait_for(lambda c: marker in c.frames(TextFrame))


def plain(text: str) -> list[str]:
    return [w.strip(".,").lower() for w in text.split()]


def finals(run: Run) -> list[TranscriptionFrame]:
    return [f for f in run.down.frames(TranscriptionFrame) if f.text != "marker"]


def make_stt(server: Server, **kw: object) -> SmallestSTTService:
    return SmallestSTTService(api_key=server.api_key, base_url=server.ws_url, **kw)  # type: ignore[arg-type]


def make_http_stt(server: Server, **kw: object) -> SmallestHttpSTTService:
    return SmallestHttpSTTService(api_key=server.api_key, base_url=server.http_url, **kw)  # type: ignore[arg-type]


# -- streaming -------------------------------------------------------------------------------
async def test_a_turn_gives_interims_then_one_finalized_transcript(smallest_server: Server):
    stt = make_stt(smallest_server)
    async with running(stt) as run:
        await run.send(*turn(tone("one", "two", "three")))
        await run.down.wait_for(lambda c: any(f.finalized for f in c.frames(TranscriptionFrame)))
    [final] = finals(run)
    assert plain(final.text) == [tone_word("one"), tone_word("two"), tone_word("three")]
    assert final.finalized and final.user_id == "alice" and final.language == Language.EN
    assert isinstance(final.result, FinalTranscript) and final.result.from_finalize
    assert [w.start for w in final.result.words] == pytest.approx([0.0, WORD_S, 2 * WORD_S])
    assert final.timestamp  # ISO 8601, as Pipecat's own services stamp it
    interims = run.down.frames(InterimTranscriptionFrame)
    assert interims and all(i.user_id == "alice" for i in interims)
    kinds = [type(f) for f in run.down.frames((InterimTranscriptionFrame, TranscriptionFrame))]
    assert kinds[-1] is TranscriptionFrame  # interims come before their final
    assert run.errors() == []
    assert smallest_server.stats.stt_sessions == 1
    assert len(run.down.frames(UserAudioRawFrame)) == len(frames(tone("one", "two", "three")))


async def test_two_turns_share_one_session(smallest_server: Server):
    stt = make_stt(smallest_server)
    async with running(stt) as run:
        await run.send(*turn(tone("first")))
        await run.down.wait_count(TranscriptionFrame, 1)
        await run.send(*turn(tone("second", "again")))
        await run.down.wait_count(TranscriptionFrame, 2)
    assert [plain(f.text) for f in finals(run)] == [
        [tone_word("first")],
        [tone_word("second"), tone_word("again")],
    ]
    assert all(f.finalized for f in finals(run))
    assert smallest_server.stats.stt_sessions == 1


async def test_end_of_pipeline_delivers_the_pending_speech(smallest_server: Server):
    stt = make_stt(smallest_server)
    async with running(stt) as run:  # no VAD stop: EndFrame ends the session
        await run.send(VADUserStartedSpeakingFrame(), *frames(tone("tail", "end")))
    assert [plain(f.text) for f in finals(run)] == [[tone_word("tail"), tone_word("end")]]


async def test_ttfb_and_usage_metrics(smallest_server: Server):
    stt = make_stt(smallest_server)
    pcm = tone("m", "n")
    async with running(stt, metrics=True) as run:
        await run.send(*turn(pcm))
        await run.down.wait_count(TranscriptionFrame, 1)
        await run.down.wait_for(
            lambda c: any(
                isinstance(d, TTFBMetricsData) and d.processor == stt.name
                for m in c.frames(MetricsFrame)
                for d in m.data
            )
        )
    data = [d for m in run.down.frames(MetricsFrame) for d in m.data]
    ttfb = [d.value for d in data if isinstance(d, TTFBMetricsData) and d.processor == stt.name]
    assert 0 < ttfb[-1] < 2.0  # end of speech (VAD stop - stop_secs) → final
    usage = [d.value for d in data if isinstance(d, STTUsageMetricsData)]
    assert sum(u.audio_seconds for u in usage) == pytest.approx(len(pcm) / (2 * RATE))


async def test_settings_update_applies_from_the_next_session(smallest_server: Server):
    stt = make_stt(smallest_server)
    async with running(stt) as run:
        await run.send(*turn(tone("en")))
        await run.down.wait_count(TranscriptionFrame, 1)
        await run.send(STTUpdateSettingsFrame(delta=SmallestSTTSettings(language=Language.ES)))
        await settled(run)  # audio frames are system frames: they would overtake the update
        await run.send(*turn(tone("es")))
        await run.down.wait_count(TranscriptionFrame, 2)
        await run.send(STTUpdateSettingsFrame(delta=SmallestSTTSettings(language="tlh")))
        await run.up.wait_count(ErrorFrame, 1)
        assert stt.session is not None and stt.session.options.language == "es"  # kept
    first, second = finals(run)
    assert (first.result.language, second.result.language) == ("en", "es")
    assert second.language == Language.ES
    assert smallest_server.stats.stt_sessions == 2
    [refused] = run.errors()
    assert refused.category == ErrorCategory.APPLICATION and "language" in refused.error


async def test_drop_after_audio_is_reported_and_the_next_turn_transcribes(smallest_server: Server):
    smallest_server.faults.close_after(5, code=1011, route="stt")
    stt = make_stt(smallest_server)
    async with running(stt) as run:
        await run.send(*turn(tone("lost", "words")))
        await run.up.wait_count(ErrorFrame, 1)
        await run.send(*turn(tone("back")))
        await run.down.wait_for(
            lambda c: any(plain(f.text) == [tone_word("back")] for f in finals(run))
        )
    [error] = run.errors()
    assert error.category == ErrorCategory.CONNECTIVITY and "Smallest STT" in error.error
    assert not error.fatal
    assert smallest_server.stats.stt_sessions == 2


async def test_a_rejected_key_is_one_permanent_error(smallest_server: Server):
    stt = SmallestSTTService(api_key="sk_wrong_key", base_url=smallest_server.ws_url)
    connection_errors: list[str] = []

    @stt.event_handler("on_connection_error")
    async def _on_error(_stt: SmallestSTTService, error: str) -> None:
        connection_errors.append(error)

    async with running(stt) as run:
        await run.up.wait_count(ErrorFrame, 1)
        await run.send(*turn(tone("x")))
    [error] = run.errors()
    assert error.category == ErrorCategory.AUTHENTICATION
    assert "sk_wrong_key" not in error.error and len(connection_errors) == 1
    assert finals(run) == []


def test_bad_settings_fail_at_construction(smallest_server: Server):
    with pytest.raises(InvalidOptionError, match="model"):
        make_stt(smallest_server, settings=SmallestSTTSettings(model="pulse-pro"))
    with pytest.raises(InvalidOptionError, match="sample_rate"):
        make_stt(smallest_server, sample_rate=11025)
    assert (
        make_stt(
            smallest_server, settings=SmallestSTTSettings(language=Language.HI_IN)
        )._options.language
        == "hi"
    )


@pytest.mark.smallest_server(engine="espeak")
async def test_real_speech_through_pocketsphinx(smallest_server: Server):
    sentence = "please call me back tomorrow morning"
    speech = smallest_server.state.engine.synthesize(
        sentence, voice_id="magnus", sample_rate=RATE, speed=0.8
    ).pcm
    stt = make_stt(smallest_server)
    async with running(stt) as run:
        await run.send(*turn(speech + bytes(RATE)))  # and a second of silence
        # The server's endpointing may cut the final before our finalize (then answered
        # empty); pocketsphinx's full re-decode takes seconds on a loaded machine.
        await run.down.wait_count(TranscriptionFrame, 1, timeout=60)
    heard = " ".join(f.text for f in finals(run))
    assert plain(heard) == sentence.split()


# -- HTTP, one batch call per VAD segment ----------------------------------------------------
async def test_http_service_transcribes_each_vad_segment(smallest_server: Server):
    stt = make_http_stt(smallest_server, trailing_silence_secs=0.2)
    async with running(stt) as run:
        await run.send(*turn(tone("seg", "ment")))
        await run.down.wait_count(TranscriptionFrame, 1)
        await run.send(*turn(tone("two")))
        await run.down.wait_count(TranscriptionFrame, 2)
    first, second = finals(run)
    assert plain(first.text) == [tone_word("seg"), tone_word("ment")] and plain(second.text) == [
        tone_word("two")
    ]
    assert first.finalized and first.user_id == "alice" and first.language == Language.EN
    assert isinstance(first.result, Transcription)
    assert smallest_server.stats.stt_batch_requests == 2 and smallest_server.stats.stt_sessions == 0


async def test_http_errors_are_error_frames_and_the_next_segment_works(smallest_server: Server):
    smallest_server.faults.http_error(503, path="/waves/v1/stt/")
    stt = make_http_stt(smallest_server, retry=RetryPolicy(max_attempts=1))
    async with running(stt) as run:
        await run.send(*turn(tone("bad")))
        await run.up.wait_count(ErrorFrame, 1)
        await run.send(*turn(tone("good")))
        await run.down.wait_count(TranscriptionFrame, 1)
    [error] = run.errors()
    assert error.category == ErrorCategory.SERVER and "Smallest STT" in error.error
    assert plain(finals(run)[0].text) == [tone_word("good")]


def test_http_service_takes_batch_only_settings(smallest_server: Server):
    stt = make_http_stt(smallest_server, settings=SmallestSTTSettings(model="pulse-pro"))
    assert stt._options.model == "pulse-pro"
    with pytest.raises(InvalidOptionError, match="language"):
        make_http_stt(smallest_server, settings=SmallestSTTSettings(language="multi"))
