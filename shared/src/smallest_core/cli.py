"""``smallest``: speak, list voices and clone voices from a shell.

``smallest say "Hello there" -o hello.wav`` streams over the WebSocket and prints the
time to first audio; ``smallest voices``, ``smallest clone --name N sample.wav`` and
``smallest clones`` use REST. The key comes from ``--api-key`` or ``SMALLEST_API_KEY``;
``--base-url`` (default: the real service) points at any compatible server, e.g. a local
``smallest-local serve``.

The global options (``--api-key``, ``--base-url``) may come before or after the
subcommand — ``smallest --base-url URL say hi`` and ``smallest say hi --base-url URL``
are the same; if both are given, the one after the subcommand wins.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .audio import pcm_to_wav
from .codec import DEFAULT_HTTP_BASE
from .connection import StreamConnection
from .errors import SmallestError
from .events import AudioChunk
from .options import TTSOptions
from .rest import AsyncRestClient
from .wire import API_KEY_ENV, BASE_URL_ENV

__all__ = ["main"]


def ws_base(http_base: str) -> str:
    """The WebSocket base for an HTTP base URL (https → wss, http → ws)."""
    if http_base.startswith("https://"):
        return "wss://" + http_base[len("https://") :]
    if http_base.startswith("http://"):
        return "ws://" + http_base[len("http://") :]
    return http_base


def _add_global_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """Add ``--api-key`` and ``--base-url`` to the main parser or to a subcommand.

    The main parser holds the real defaults. Each subcommand declares the same options
    with ``SUPPRESS`` as default, so they land in the namespace only when typed after the
    subcommand, and then override whatever the main parser set (argparse copies a
    subparser's namespace onto the main one).
    """
    suppress = argparse.SUPPRESS
    parser.add_argument(
        "--api-key", default=None if defaults else suppress, help=f"default: ${API_KEY_ENV}"
    )
    parser.add_argument(
        "--base-url",
        default=os.environ.get(BASE_URL_ENV, DEFAULT_HTTP_BASE) if defaults else suppress,
        help=f"HTTP base URL (default: ${BASE_URL_ENV}, else {DEFAULT_HTTP_BASE})",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smallest", description="Smallest AI Waves TTS.")
    parser.add_argument("--version", action="version", version=__version__)
    _add_global_options(parser, defaults=True)
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common, defaults=False)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, summary: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=summary, parents=[common])

    say = add("say", "stream text to a WAV file and print the time to first audio")
    say.add_argument("text")
    say.add_argument("-o", "--output", default="out.wav")
    say.add_argument("--voice", default="meher")
    say.add_argument("--model", default="lightning_v3.1_pro")
    say.add_argument("--sample-rate", type=int, default=24000)
    say.add_argument("--speed", type=float, default=1.0)
    say.add_argument("--language", default="en")

    voices = add("voices", "list the voice catalog")
    voices.add_argument("--model", default="lightning_v3.1")

    clone = add("clone", "clone a voice from a 5-15 s sample")
    clone.add_argument("file")
    clone.add_argument("--name", required=True)
    clone.add_argument("--language", default=None)
    clone.add_argument("--model", default=None)
    clone.add_argument("--wait", action="store_true", help="wait until the job finishes")

    add("clones", "list voice clones and their status")
    return parser


async def _say(args: argparse.Namespace, key: str | None) -> int:
    options = TTSOptions(
        voice_id=args.voice,
        model=args.model,
        sample_rate=args.sample_rate,
        speed=args.speed,
        language=args.language,
    )
    pcm = bytearray()
    ttfa = None
    conn = StreamConnection(
        api_key=key or os.environ.get(API_KEY_ENV, ""),
        options=options,
        base_url=ws_base(args.base_url),
    )
    async with conn:
        start = time.perf_counter()
        utterance = conn.utterance()
        await utterance.end(args.text)
        async for event in utterance:
            if isinstance(event, AudioChunk):
                if ttfa is None:
                    ttfa = time.perf_counter() - start
                pcm += event.audio
    await asyncio.to_thread(
        Path(args.output).write_bytes, pcm_to_wav(bytes(pcm), options.sample_rate)
    )
    seconds = len(pcm) / 2 / options.sample_rate
    print(
        f"wrote {args.output}: {seconds:.2f} s of audio; time to first audio "
        f"{(ttfa or 0) * 1000:.0f} ms"
    )
    return 0


async def _rest(args: argparse.Namespace, key: str | None) -> int:
    async with AsyncRestClient(api_key=key, base_url=args.base_url) as client:
        if args.command == "voices":
            for voice in await client.voices(args.model):
                langs = ",".join(voice.languages)
                print(f"{voice.voice_id:20} {voice.display_name:20} {langs} {voice.accent or ''}")
        elif args.command == "clones":
            for clone in await client.clones():
                print(f"{clone.voice_id:20} {clone.status:11} {clone.display_name}")
        elif args.command == "clone":
            clone = await client.add_voice(
                display_name=args.name, file=args.file, language=args.language, model=args.model
            )
            print(f"{clone.voice_id} {clone.status}")
            if args.wait:
                clone = await client.wait_for_voice(clone.voice_id)
                print(f"{clone.voice_id} {clone.status}")
                return 0 if clone.ready else 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``smallest`` command; exit status 1 on a typed API error."""
    args = _parser().parse_args(argv)
    key = args.api_key
    try:
        if args.command == "say":
            return asyncio.run(_say(args, key))
        return asyncio.run(_rest(args, key))
    except SmallestError as exc:
        print(f"smallest: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
