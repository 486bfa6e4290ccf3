"""What every demo scene shares: its result row, progress lines, and the WAV writer."""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from smallest_core import ConnectionPool, pcm_to_wav

RATE = 24000


@dataclass
class SceneResult:
    """One row of the demo's final table (and of ``out/demo.json``)."""

    scene: str
    wav: str
    ttfa_ms: float  # first token (or request) to first audio, as the app saw it
    audio_s: float  # seconds of audio written to the WAV
    sockets: int | None  # WebSockets opened during the scene (None: not countable here)
    reused_after_barge_in: bool | None  # None: the scene has no barge-in
    text: str  # what the scene's last turn said (the test checks it is heard)

    def row(self) -> dict[str, object]:
        return asdict(self)


_T0 = time.perf_counter()


def progress(scene: str, message: str) -> None:
    """One progress line, with the seconds since the demo started."""
    print(f"  [{time.perf_counter() - _T0:5.1f}s] {scene:<18} {message}", flush=True)


def write_wav(path: Path, pcm: bytes, rate: int = RATE) -> float:
    """Write s16le mono ``pcm`` as a WAV; return its duration in seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pcm_to_wav(pcm, rate))
    return len(pcm) / 2 / rate


class SocketCounter:
    """Counts the WebSockets a pool opens (from the pool's own socket events)."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.opened = 0
        self.remove = pool.add_socket_listener(on_open=self._opened)

    def _opened(self, _conn: object) -> None:
        self.opened += 1


def warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the voice loops: a spoken user, and one line per turn -----------------------------------
MIC_RATE = 16000  # the user's audio: what a transport delivers to STT
MIC_FRAME_S = 0.02


@dataclass
class Turn:
    """One heard-and-answered turn of a voice loop (times are ``time.perf_counter()``)."""

    said: str  # what the user said (the script)
    heard: str = ""  # our STT's final transcript
    answer: str = ""  # what the scripted LLM answered (and our TTS spoke)
    speech_end: float = 0.0  # the last frame of the user's speech went in
    final_at: float = 0.0  # the final transcript reached the framework
    first_audio_at: float = 0.0  # the answer's first audio reached the output

    @property
    def final_ms(self) -> float:
        return (self.final_at - self.speech_end) * 1000

    @property
    def first_audio_ms(self) -> float:
        return (self.first_audio_at - self.speech_end) * 1000

    def report(self, scene: str, n: int) -> None:
        progress(scene, f"turn {n}: said   {self.said!r}")
        progress(scene, f"turn {n}: heard  {self.heard!r}")
        progress(scene, f"turn {n}: answer {self.answer!r}")
        progress(
            scene,
            f"turn {n}: end of user speech → final transcript {self.final_ms:.0f} ms "
            f"→ first audio {self.first_audio_ms:.0f} ms",
        )


@dataclass
class VoiceLoopResult:
    """One voice loop: its turns and the agent's audio (``out/demo.json``'s ``voice_loops``)."""

    scene: str
    wav: str
    audio_s: float
    turns: list[Turn]

    def row(self) -> dict[str, object]:
        return {
            "scene": self.scene,
            "wav": self.wav,
            "audio_s": self.audio_s,
            "turns": [
                {
                    "said": t.said,
                    "heard": t.heard,
                    "answer": t.answer,
                    "final_ms": round(t.final_ms),
                    "first_audio_ms": round(t.first_audio_ms),
                }
                for t in self.turns
            ],
        }


def trim_silence(pcm: bytes, threshold: int = 200) -> bytes:
    """``pcm`` (s16le) without its leading and trailing near-silence: so the last
    frame fed is the end of speech."""
    samples = memoryview(pcm).cast("h")
    loud = [i for i in range(len(samples)) if abs(samples[i]) > threshold]
    if not loud:
        return b""
    return pcm[loud[0] * 2 : (loud[-1] + 1) * 2]


async def speak_questions(
    base_url: str | None, api_key: str | None, questions: list[str]
) -> list[bytes]:
    """The user's voice: each question synthesized (16 kHz PCM) by the server's TTS."""
    from smallest_core import AsyncRestClient, TTSOptions

    options = TTSOptions(voice_id="magnus", sample_rate=MIC_RATE, speed=0.8, output_format="pcm")
    async with AsyncRestClient(api_key=api_key, base_url=base_url) as rest:
        spoken = await asyncio.gather(*(rest.synthesize(q, options=options) for q in questions))
    return [trim_silence(pcm) for pcm in spoken]
