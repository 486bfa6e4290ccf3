"""The ``smallest`` CLI takes its global options before or after the subcommand.

Users type ``smallest say "hi" --base-url … --api-key …`` as often as the argparse-shaped
``smallest --base-url … say "hi"``; both must work, mixed placements too, and an option
typed after the subcommand wins over the same option before it. Every run is a real one
against ``smallest_local`` (tone engine), so a misplaced option shows up as a failed call,
not just as a parsed value.
"""

from __future__ import annotations

import math
import wave
from pathlib import Path

import pytest

from smallest_core import pcm_to_wav
from smallest_core.cli import main as cli_main
from smallest_local import Server

#: A loopback port nothing listens on: a call sent there fails to connect.
DEAD_URL = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key and the URL must come from the command line, not the environment."""
    monkeypatch.delenv("SMALLEST_API_KEY", raising=False)
    monkeypatch.delenv("SMALLEST_BASE_URL", raising=False)


def _after(server: Server) -> list[str]:
    return ["--base-url", server.http_url, "--api-key", server.api_key]


def _sample(path: Path, seconds: float = 6.0, rate: int = 16000) -> Path:
    samples = (int(8000 * math.sin(i / 8)) for i in range(int(seconds * rate)))
    pcm = b"".join(s.to_bytes(2, "little", signed=True) for s in samples)
    path.write_bytes(pcm_to_wav(pcm, rate))
    return path


def test_say_with_global_options_after_the_subcommand(
    smallest_server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "hi.wav"
    assert cli_main(["say", "hello there", "-o", str(out), *_after(smallest_server)]) == 0
    with wave.open(str(out)) as w:
        assert w.getnframes() == 2 * 4800  # two tone words at 24 kHz
    assert "time to first audio" in capsys.readouterr().out


def test_voices_with_global_options_after_the_subcommand(
    smallest_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_main(["voices", *_after(smallest_server)]) == 0
    assert "meher" in capsys.readouterr().out


def test_global_options_split_around_the_subcommand(
    smallest_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--api-key", smallest_server.api_key, "voices", "--base-url", smallest_server.http_url]
    assert cli_main(argv) == 0
    assert "meher" in capsys.readouterr().out


def test_clone_with_global_options_after_its_own(
    smallest_server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = _sample(tmp_path / "me.wav")
    argv = ["clone", str(sample), "--name", "Me", "--wait", *_after(smallest_server)]
    assert cli_main(argv) == 0
    voice_id = capsys.readouterr().out.split()[0]
    assert cli_main(["clones", *_after(smallest_server)]) == 0
    assert voice_id in capsys.readouterr().out


def test_base_url_after_the_subcommand_wins(
    smallest_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--base-url", DEAD_URL, "voices", *_after(smallest_server)]
    assert cli_main(argv) == 0
    assert "meher" in capsys.readouterr().out
    # And the other way round the dead URL is used, so the placement really decides.
    argv = ["--base-url", smallest_server.http_url, "voices", "--base-url", DEAD_URL]
    assert cli_main([*argv, "--api-key", smallest_server.api_key]) == 1
    assert "ConnectionLostError" in capsys.readouterr().err


def test_api_key_after_the_subcommand_wins(
    smallest_server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = "sk_bad_key_after_1234567"
    argv = ["--api-key", smallest_server.api_key, "voices", "--api-key", bad]
    assert cli_main([*argv, "--base-url", smallest_server.http_url]) == 1
    err = capsys.readouterr().err
    assert "AuthenticationError" in err and bad not in err


def test_subcommand_help_lists_the_global_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["say", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--base-url" in out and "--api-key" in out
