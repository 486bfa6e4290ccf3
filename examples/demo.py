"""`make demo`: one short scene per framework, each a real use of our adapters.

* LiveKit — an ``AgentSession`` answers a scripted user turn from a fake LLM's token
  stream, the user barges in mid-reply, the agent answers again (``livekit_smallest``);
* Pipecat — a ``Pipeline`` speaks an LLM-style token stream, then a second turn
  (``pipecat_smallest``);
* LangChain — an agent whose chat model calls the speak tool, and a chat model piped
  into ``SmallestSpeech`` (``langchain_smallest``);
* two voice loops that *hear* the user: spoken questions (the server's own TTS, fed in
  at real-time pace as the user's microphone) → our STT → a scripted LLM → our TTS, in a
  LiveKit ``AgentSession`` (turn detection by our STT's end-of-speech events) and in a
  Pipecat pipeline (Pipecat's bundled Silero VAD). Each turn prints what was said, what
  was heard, the answer, and end of user speech → final transcript → first audio.

Without ``SMALLEST_API_KEY`` it starts the local server (``smallest_local``, real speech
from espeak-ng, streamed at real-time pace) in the background of this process; with the
key set the same scenes run against the real service (``SMALLEST_BASE_URL`` or the
default). One WAV per scene goes to ``out/``; ``out/demo.json`` holds the final tables.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the scene modules beside this file

from demo_common import SceneResult, VoiceLoopResult

OUT = Path("out")


async def run_scenes(
    base_url: str | None, api_key: str | None, sockets: Callable[[], int | None]
) -> list[SceneResult]:
    import demo_langchain
    import demo_livekit
    import demo_pipecat

    return [
        await demo_livekit.scene(base_url, api_key, OUT),
        await demo_pipecat.scene(base_url, api_key, OUT),
        await demo_langchain.agent_scene(base_url, api_key, OUT, sockets),
        await demo_langchain.pipe_scene(base_url, api_key, OUT, sockets),
    ]


async def run_voice_loops(base_url: str | None, api_key: str | None) -> list[VoiceLoopResult]:
    import demo_voice_livekit
    import demo_voice_pipecat

    return [
        await demo_voice_livekit.scene(base_url, api_key, OUT),
        await demo_voice_pipecat.scene(base_url, api_key, OUT),
    ]


async def run_all(
    base_url: str | None, api_key: str | None, sockets: Callable[[], int | None]
) -> tuple[list[SceneResult], list[VoiceLoopResult]]:
    return (
        await run_scenes(base_url, api_key, sockets),
        await run_voice_loops(base_url, api_key),
    )


def table(results: list[SceneResult]) -> str:
    def yes_no(value: bool | None) -> str:
        return "—" if value is None else "yes" if value else "NO"

    head = f"{'scene':<24} {'TTFA':>8} {'audio':>7} {'sockets':>8}  {'reused after barge-in'}"
    lines = [head, "-" * len(head)]
    for r in results:
        sockets = "—" if r.sockets is None else str(r.sockets)
        lines.append(
            f"{r.scene:<24} {r.ttfa_ms:>6.0f}ms {r.audio_s:>6.1f}s {sockets:>8}  "
            f"{yes_no(r.reused_after_barge_in)}"
        )
    lines.append(
        "TTFA: first LLM token (or tool call) to first audio the app gets; the speak tool "
        "returns the whole clip over HTTP, so its TTFA is the call's duration."
    )
    return "\n".join(lines)


def voice_table(loops: list[VoiceLoopResult]) -> str:
    head = f"{'voice loop':<20} {'turn':>4}  {'final':>7} {'1st audio':>9}  heard"
    lines = [head, "-" * 72]
    for loop in loops:
        for n, t in enumerate(loop.turns, 1):
            lines.append(
                f"{loop.scene:<20} {n:>4}  {t.final_ms:>5.0f}ms {t.first_audio_ms:>7.0f}ms  "
                f"{t.heard!r}"
            )
    lines.append(
        "final / 1st audio: from the end of the user's speech (its last frame fed) to our "
        "STT's final transcript, and to the first audio of the spoken answer."
    )
    return "\n".join(lines)


def quiet_logs() -> None:
    logging.basicConfig(level=logging.WARNING)
    for name in ("livekit", "livekit.agents", "smallest_core", "aiohttp"):
        logging.getLogger(name).setLevel(logging.ERROR)
    from loguru import logger  # Pipecat logs every frame at DEBUG

    logger.remove()
    logger.add(sys.stderr, level="ERROR")


def main() -> int:
    started = time.perf_counter()
    quiet_logs()
    key = os.environ.get("SMALLEST_API_KEY")
    if key:
        where = "the Smallest API"
        print(f"SMALLEST_API_KEY set: the scenes talk to {where}", flush=True)
        results, loops = asyncio.run(
            run_all(os.environ.get("SMALLEST_BASE_URL"), key, lambda: None)
        )
    else:
        from smallest_local import Server

        server = Server(engine="espeak", db_path=":memory:")
        server.set_latency(realtime_factor=1.0)  # audio streams at speaking pace
        with server:
            where = f"the embedded local server ({server.http_url}, espeak)"
            print(f"no SMALLEST_API_KEY: started {where}", flush=True)

            def sockets() -> int:
                return server.stats.ws_connections_total

            results, loops = asyncio.run(run_all(server.http_url, server.api_key, sockets))
    print()
    print(table(results))
    print()
    print(voice_table(loops))
    OUT.mkdir(exist_ok=True)
    (OUT / "demo.json").write_text(
        json.dumps(
            {
                "where": where,
                "scenes": [r.row() for r in results],
                "voice_loops": [v.row() for v in loops],
            },
            indent=2,
        )
        + "\n"
    )
    print(
        f"\nWAVs in {OUT}/ ({', '.join(Path(r.wav).name for r in [*results, *loops])}); "
        f"done in {time.perf_counter() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
