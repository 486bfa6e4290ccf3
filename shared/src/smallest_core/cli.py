"""``smallest``: speak, transcribe, list voices and clone voices from a shell.

``smallest say "Hello there" -o hello.wav`` streams over the WebSocket and prints the
time to first audio (``-o -`` writes the WAV to stdout, the status to stderr);
``smallest transcribe hello.wav`` prints the transcript alone on stdout (batch, or
``--stream`` over the WebSocket; ``--words`` adds word times; ``-`` reads the WAV from
stdin, so ``smallest say "hi" -o - | smallest transcribe -`` round-trips);
``smallest voices``, ``smallest clone --name N sample.wav`` and ``smallest clones`` use
REST. The key comes from ``--api-key`` or ``SMALLEST_API_KEY``;
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
from .audio import pcm_to_wav, wav_to_pcm
from .codec import DEFAULT_HTTP_BASE
from .connection import StreamConnection
from .errors import InvalidOptionError, SmallestError
from .events import AudioChunk
from .options import TTSOptions
from .rest import AsyncRestClient
from .stt_events import FinalTranscript, Word
from .stt_options import STT_SAMPLE_RATES, STTOptions
from .stt_stream import Transcriber
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
    parser = argparse.ArgumentParser(
        prog="smallest", description="Smallest AI Waves TTS and Pulse STT."
    )
    parser.add_argument("--version", action="version", version=__version__)
    _add_global_options(parser, defaults=True)
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common, defaults=False)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, summary: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=summary, parents=[common])

    say = add("say", "stream text to a WAV file and print the time to first audio")
    say.add_argument("text")
    say.add_argument("-o", "--output", default="out.wav", help="a WAV path, or - for stdout")
    say.add_argument("--voice", default="meher")
    say.add_argument("--model", default="lightning_v3.1_pro")
    say.add_argument("--sample-rate", type=int, default=24000)
    say.add_argument("--speed", type=float, default=1.0)
    say.add_argument("--language", default="en")

    transcribe = add("transcribe", "print a WAV file's transcript (status on stderr)")
    transcribe.add_argument("file", help="a WAV file, or - to read one from stdin")
    transcribe.add_argument(
        "--stream", action="store_true", help="over the WebSocket instead of batch"
    )
    transcribe.add_argument(
        "--words", action="store_true", help="then one 'start end word' line per word"
    )
    transcribe.add_argument("--language", default="en")
    transcribe.add_argument("--model", default="pulse")

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
    wav = pcm_to_wav(bytes(pcm), options.sample_rate)
    seconds = len(pcm) / 2 / options.sample_rate
    status = f"{seconds:.2f} s of audio; time to first audio {(ttfa or 0) * 1000:.0f} ms"
    if args.output == "-":  # the WAV is the output: status goes to stderr
        sys.stdout.buffer.write(wav)
        sys.stdout.buffer.flush()
        print(f"wrote stdout: {status}", file=sys.stderr)
    else:
        await asyncio.to_thread(Path(args.output).write_bytes, wav)
        print(f"wrote {args.output}: {status}")
    return 0


def _read_input(name: str) -> bytes:
    """The bytes of ``name``, or of stdin for ``-`` (a blocking read)."""
    if name == "-":
        return sys.stdin.buffer.read()
    return Path(name).read_bytes()


#: Audio per pushed chunk when streaming a file (D13: 50-100 ms frames).
_STREAM_CHUNK_S = 0.1


async def _stream_file(
    data: bytes, options: STTOptions, key: str | None, base_url: str
) -> tuple[str, list[Word], float]:
    """Transcribe a WAV over the WebSocket: (text, words, seconds from end() to is_last)."""
    try:
        pcm, rate = wav_to_pcm(data)
    except ValueError as exc:
        raise InvalidOptionError(
            "file", "<input>", "a 16-bit PCM mono WAV", problem=f"is not readable ({exc})"
        ) from None
    if rate not in STT_SAMPLE_RATES:
        raise InvalidOptionError("sample_rate", rate, ", ".join(map(str, STT_SAMPLE_RATES)))
    options = options.replace(sample_rate=rate)
    finals: list[FinalTranscript] = []
    async with Transcriber(api_key=key, options=options, base_url=base_url) as stt:

        async def read() -> None:
            async for event in stt:
                if isinstance(event, FinalTranscript):
                    finals.append(event)

        reader = asyncio.create_task(read())
        step = int(rate * _STREAM_CHUNK_S) * 2
        for pos in range(0, len(pcm), step):
            await stt.push_audio(pcm[pos : pos + step])
        ended = time.perf_counter()
        await stt.end()
        waited = time.perf_counter() - ended
        await reader
    text = " ".join(f.text.strip() for f in finals if f.text.strip())
    return text, [w for f in finals for w in f.words], waited


async def _transcribe(args: argparse.Namespace, key: str | None) -> int:
    data = await asyncio.to_thread(_read_input, args.file)
    options = STTOptions(model=args.model, language=args.language)
    start = time.perf_counter()
    if args.stream:
        text, words, tail = await _stream_file(data, options, key, args.base_url)
        how = f"streamed; last audio → is_last {tail * 1000:.0f} ms"
    else:
        async with AsyncRestClient(api_key=key, base_url=args.base_url) as client:
            result = await client.transcribe(data, options=options)
        text, words, how = result.text, list(result.words), "batch"
    print(text)
    if args.words:
        for word in words:
            print(f"{word.start:.2f}\t{word.end:.2f}\t{word.word}")
    elapsed = time.perf_counter() - start
    print(f"transcribed in {elapsed * 1000:.0f} ms ({how})", file=sys.stderr)
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
        if args.command == "transcribe":
            return asyncio.run(_transcribe(args, key))
        return asyncio.run(_rest(args, key))
    except SmallestError as exc:
        print(f"smallest: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a file that cannot be read or written
        print(f"smallest: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
