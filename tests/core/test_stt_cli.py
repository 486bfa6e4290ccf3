"""``smallest transcribe`` prints the transcript alone on stdout (status on stderr), batch or
``--stream``, from a file or stdin; ``smallest say -o -`` writes the WAV to stdout, so
``smallest say "..." -o - | smallest transcribe -`` round-trips. Real runs against
smallest_local: the tone engine (exact) and, once, espeak + pocketsphinx (real speech)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from smallest_core.cli import main as cli_main
from smallest_local import Server
from tests.support.asr import wer


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMALLEST_API_KEY", raising=False)
    monkeypatch.delenv("SMALLEST_BASE_URL", raising=False)


def _opts(server: Server) -> list[str]:
    return ["--base-url", server.http_url, "--api-key", server.api_key]


def _say_to_stdout(
    server: Server, text: str, capfd: pytest.CaptureFixture[bytes], *more: str
) -> tuple[bytes, str]:
    assert cli_main(["say", text, "-o", "-", "--sample-rate", "16000", *more, *_opts(server)]) == 0
    out, err = capfd.readouterr()
    return out, err.decode()


def _words(text: str) -> list[str]:
    return [w.strip(".,?!").lower() for w in text.split()]


@pytest.mark.parametrize("stream", [False, True], ids=["batch", "stream"])
def test_say_to_stdout_then_transcribe_stdin(
    smallest_server: Server,
    capfdbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
    stream: bool,
) -> None:
    wav, err = _say_to_stdout(smallest_server, "one two three", capfdbinary)
    assert wav[:4] == b"RIFF" and "time to first audio" in err
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(wav)))
    args = ["transcribe", "-", *(["--stream"] if stream else []), *_opts(smallest_server)]
    assert cli_main(args) == 0
    out, err_bytes = capfdbinary.readouterr()
    lines = out.decode().splitlines()
    assert len(lines) == 1  # the transcript alone
    assert len(_words(lines[0])) == 3 and _words(lines[0])[0].startswith("tag")
    assert "transcribed in" in err_bytes.decode()


def test_words_and_a_file(
    smallest_server: Server, capfdbinary: pytest.CaptureFixture[bytes], tmp_path: Path
) -> None:
    wav, _ = _say_to_stdout(smallest_server, "alpha beta", capfdbinary)
    path = tmp_path / "in.wav"
    path.write_bytes(wav)
    assert cli_main(["transcribe", str(path), "--stream", "--words", *_opts(smallest_server)]) == 0
    lines = capfdbinary.readouterr()[0].decode().splitlines()
    assert len(lines) == 3
    rows = [line.split("\t") for line in lines[1:]]
    assert [_words(row[2]) for row in rows] == [_words(lines[0])[:1], _words(lines[0])[1:]]
    assert float(rows[0][0]) < float(rows[0][1]) <= float(rows[1][0]) < float(rows[1][1])


def test_errors_go_to_stderr_with_status_1(
    smallest_server: Server, capfdbinary: pytest.CaptureFixture[bytes], tmp_path: Path
) -> None:
    assert cli_main(["transcribe", str(tmp_path / "missing.wav"), *_opts(smallest_server)]) == 1
    out, err = capfdbinary.readouterr()
    assert out == b"" and b"missing.wav" in err
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav")
    assert cli_main(["transcribe", str(bad), "--stream", *_opts(smallest_server)]) == 1
    assert b"InvalidOptionError: file=" in capfdbinary.readouterr()[1]
    args = ["transcribe", str(bad), "--language", "xx", *_opts(smallest_server)]
    assert cli_main(args) == 1
    assert b"language='xx'" in capfdbinary.readouterr()[1]


@pytest.mark.slow
@pytest.mark.smallest_server(engine="espeak", stt_engine="pocketsphinx")
def test_real_speech_round_trip(
    smallest_server: Server,
    capfdbinary: pytest.CaptureFixture[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The issue's "done when": the sentence comes back, offline.

    Spoken at 140 wpm (``--speed 0.8``, the rate the speech-stack guide measured), and
    one word of five may differ: espeak's intonation carries state from the process's
    earlier syntheses, so at 175 wpm some test orders made pocketsphinx hear "please
    don't be back tomorrow" (0.2 is the bound the server's own WER test uses)."""
    sentence = "please call me back tomorrow"
    wav, _ = _say_to_stdout(smallest_server, sentence, capfdbinary, "--speed", "0.8")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(wav)))
    assert cli_main(["transcribe", "-", *_opts(smallest_server)]) == 0
    heard = capfdbinary.readouterr()[0].decode()
    assert len(_words(heard)) == 5 and wer(sentence, heard) <= 0.2, heard
