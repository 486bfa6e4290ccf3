"""Bad input and service failures: what the model (or the developer) is told.

Tools default to ``handle_tool_error=True``: a failure becomes a ToolMessage with
``status="error"`` whose text names the problem and what to change, so an agent can
try again. With ``handle_tool_error=False`` the same text arrives as a ToolException.
Bad construction arguments raise at once, naming the field and the allowed values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, ToolException
from pydantic import ValidationError

from langchain_smallest import (
    SmallestCloneVoiceTool,
    SmallestListVoicesTool,
    SmallestSpeech,
    SmallestTextToSpeechTool,
    SmallestToolkit,
)
from smallest_core import InvalidOptionError
from smallest_local import Server

from .conftest import write_voice_sample


def call(tool: BaseTool, **args: Any) -> ToolMessage:
    message = tool.invoke({"type": "tool_call", "id": "t1", "name": tool.name, "args": args})
    assert isinstance(message, ToolMessage)
    return message


async def acall(tool: BaseTool, **args: Any) -> ToolMessage:
    message = await tool.ainvoke({"type": "tool_call", "id": "t1", "name": tool.name, "args": args})
    assert isinstance(message, ToolMessage)
    return message


@pytest.fixture
def tts(smallest_server: Server) -> SmallestTextToSpeechTool:
    return SmallestTextToSpeechTool(
        api_key=smallest_server.api_key, base_url=smallest_server.http_url
    )


@pytest.mark.parametrize("text", ["", "   \n"])
def test_empty_text(tts: SmallestTextToSpeechTool, smallest_server: Server, text: str):
    message = call(tts, text=text)
    assert message.status == "error" and "text is empty" in message.content
    assert smallest_server.stats.http_requests == 0  # refused before any request


async def test_unknown_voice_lists_the_valid_ones(tts: SmallestTextToSpeechTool):
    message = await acall(tts, text="Hello.", voice_id="nobody")
    assert message.status == "error"
    assert "voice_id='nobody' is not a voice of lightning_v3.1_pro" in message.content
    assert "meher" in message.content and "smallest_list_voices" in message.content


def test_unknown_voice_sync(tts: SmallestTextToSpeechTool):
    message = call(tts, text="Hello.", voice_id="nobody")
    assert message.status == "error" and "valid voice ids include: " in message.content


def test_out_of_range_speed(tts: SmallestTextToSpeechTool, smallest_server: Server):
    message = call(tts, text="Hello.", speed=5)
    assert message.status == "error"
    assert "speed=5.0 is out of range; allowed: 0.5..2.0" in message.content
    assert smallest_server.stats.http_requests == 0


def test_a_value_outside_the_schema_names_the_field(tts: SmallestTextToSpeechTool):
    message = call(tts, text="Hello.", sample_rate=22050)
    assert message.status == "error"
    assert "sample_rate=22050: Input should be 8000, 16000, 24000 or 44100" in message.content


def test_without_error_handling_the_tool_raises(smallest_server: Server):
    tts = SmallestTextToSpeechTool(
        api_key=smallest_server.api_key,
        base_url=smallest_server.http_url,
        handle_tool_error=False,
    )
    with pytest.raises(ToolException, match=r"speed=0.1 is out of range"):
        tts.invoke({"text": "Hello.", "speed": 0.1})


async def test_missing_file_for_cloning(smallest_server: Server, tmp_path: Path):
    clone = SmallestCloneVoiceTool(
        api_key=smallest_server.api_key, base_url=smallest_server.http_url
    )
    missing = tmp_path / "nothing.wav"
    message = await acall(clone, file_path=str(missing), display_name="Me")
    assert message.status == "error"
    assert f"file_path={str(missing)!r} does not exist" in message.content
    assert smallest_server.stats.http_requests == 0


def test_cloning_outside_the_allowed_directory(smallest_server: Server, tmp_path: Path):
    (tmp_path / "allowed").mkdir()
    write_voice_sample(tmp_path / "secret.wav")
    clone = SmallestCloneVoiceTool(
        api_key=smallest_server.api_key,
        base_url=smallest_server.http_url,
        root_dir=tmp_path / "allowed",
    )
    message = call(clone, file_path="../secret.wav", display_name="Me")
    assert message.status == "error" and "outside the allowed directory" in message.content
    assert smallest_server.stats.http_requests == 0


async def test_a_failed_clone_job_is_reported(smallest_server: Server, tmp_path: Path):
    smallest_server.faults.clone_fails()
    clone = SmallestCloneVoiceTool(
        api_key=smallest_server.api_key, base_url=smallest_server.http_url
    )
    sample = write_voice_sample(tmp_path / "me.wav")
    message = await acall(clone, file_path=str(sample), display_name="Me", wait=True)
    assert message.status == "error" and "failed" in message.content
    assert "longer, cleaner recording" in message.content


def test_a_missing_key_fails_at_construction(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("SMALLEST_API_KEY", raising=False)
    for cls in (
        SmallestTextToSpeechTool,
        SmallestListVoicesTool,
        SmallestCloneVoiceTool,
        SmallestToolkit,
        SmallestSpeech,
    ):
        with pytest.raises(ValueError, match=r"no Smallest API key.*SMALLEST_API_KEY"):
            cls()
        with pytest.raises(ValueError, match="no Smallest API key"):
            cls(api_key="  ")


def test_bad_defaults_fail_at_construction_naming_the_field():
    key = {"api_key": "sk_x"}
    with pytest.raises(InvalidOptionError, match="sample_rate=22050 is not supported; allowed"):
        SmallestTextToSpeechTool(**key, sample_rate=22050)
    with pytest.raises(InvalidOptionError, match=r"output_format='ogg'.*allowed: pcm, mp3"):
        SmallestToolkit(**key, output_format="ogg")
    with pytest.raises(InvalidOptionError, match=r"speed=3.0 is out of range"):
        SmallestSpeech(**key, speed=3.0)
    with pytest.raises(InvalidOptionError, match="model='lightning'"):
        SmallestSpeech(**key, model="lightning")
    with pytest.raises(ValueError, match="max_retries=-1"):
        SmallestListVoicesTool(**key, max_retries=-1)
    with pytest.raises(ValidationError, match="voice"):  # a misspelled option is not dropped
        SmallestSpeech(**key, voice="meher")


def test_a_rejected_key_is_not_retried_and_not_echoed(smallest_server: Server):
    tts = SmallestTextToSpeechTool(api_key="sk_wrong_key_123", base_url=smallest_server.http_url)
    message = call(tts, text="Hello.")
    assert message.status == "error" and "rejected the API key" in message.content
    assert "sk_wrong_key_123" not in message.content
    assert smallest_server.stats.http_requests == 1


async def test_rate_limit_after_the_core_retries_says_when_to_come_back(smallest_server: Server):
    smallest_server.faults.http_error(429, retry_after=0.05, times=None)
    listing = SmallestListVoicesTool(
        api_key=smallest_server.api_key, base_url=smallest_server.http_url, max_retries=1
    )
    message = await acall(listing)
    assert message.status == "error" and "rate limiting" in message.content
    assert "retry after 0.05 s" in message.content
    assert smallest_server.stats.http_requests == 2  # one retry, by the core, then the error


def test_a_transient_failure_is_retried_by_the_core(smallest_server: Server):
    smallest_server.faults.http_error(503, times=1)
    listing = SmallestListVoicesTool(
        api_key=smallest_server.api_key, base_url=smallest_server.http_url
    )
    message = call(listing)
    assert message.status == "success" and message.artifact
    assert smallest_server.stats.http_requests == 2
