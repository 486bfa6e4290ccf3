"""Settings are live: a change (assignment, ``model_copy``, ``configurable_fields``)
applies from the next call, and is validated the way construction validates it.

Speed is measured in the audio itself: the tone engine makes each word last
``word_ms / speed``, so twice the speed is half the bytes.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import ToolMessage
from langchain_core.runnables import ConfigurableField
from langchain_core.tools import BaseTool
from pydantic import ValidationError

from langchain_smallest import (
    SmallestListVoicesTool,
    SmallestSpeech,
    SmallestSpeechToTextTool,
    SmallestTextToSpeechTool,
    SmallestToolkit,
)
from smallest_core import AuthenticationError, InvalidOptionError
from smallest_local import Server

TEXT = "one two three four five six"


def keys(server: Server) -> dict[str, Any]:
    return {"api_key": server.api_key, "base_url": server.http_url}


def call(tool: BaseTool, **args: Any) -> ToolMessage:
    message = tool.invoke({"type": "tool_call", "id": "t1", "name": tool.name, "args": args})
    assert isinstance(message, ToolMessage)
    return message


def duration(tool: BaseTool) -> float:
    message = call(tool, text=TEXT)
    assert message.status == "success", message.content
    return float(message.artifact.duration)


def assert_twice_as_fast(slow: float, fast: float) -> None:
    assert slow > 0 and fast == pytest.approx(slow / 2, rel=0.05), (slow, fast)


# -- assignment -------------------------------------------------------------------------------
async def test_an_assigned_speech_field_applies_to_the_next_utterance(smallest_server: Server):
    speech = SmallestSpeech(**keys(smallest_server))
    slow = len(await speech.ainvoke(TEXT))
    speech.speed = 2.0
    fast = len(await speech.ainvoke(TEXT))
    assert_twice_as_fast(slow, fast)
    speech.sample_rate = 8000  # a third of the bytes per second of 24 kHz
    assert len(await speech.ainvoke(TEXT)) == pytest.approx(fast / 3, rel=0.05)
    await speech.aclose()


async def test_an_assigned_key_applies_to_the_next_utterance(smallest_server: Server):
    speech = SmallestSpeech(**keys(smallest_server))
    assert await speech.ainvoke(TEXT)
    speech.api_key = "sk_wrong_key_123"  # type: ignore[assignment]
    with pytest.raises(AuthenticationError):
        await speech.ainvoke(TEXT)
    await speech.aclose()


def test_an_assigned_tool_field_applies_to_the_next_call(smallest_server: Server):
    tool = SmallestTextToSpeechTool(**keys(smallest_server))
    slow = duration(tool)
    tool.speed = 2.0
    assert_twice_as_fast(slow, duration(tool))
    tool.output_format = "mp3"
    assert call(tool, text=TEXT).artifact.output_format == "mp3"
    tool.api_key = "sk_wrong_key_123"  # type: ignore[assignment]
    message = call(tool, text=TEXT)
    assert message.status == "error" and "rejected the API key" in message.content


def test_an_assigned_toolkit_field_reaches_the_tools_it_hands_out(smallest_server: Server):
    toolkit = SmallestToolkit(**keys(smallest_server))
    speak = toolkit.get_tools()[0]
    assert toolkit.get_tools()[0] is speak  # nothing changed: the same tools
    slow = duration(speak)
    toolkit.speed = 2.0
    toolkit.model = "lightning_v3.1_pro"
    speak, listing, _clone, _stt = toolkit.get_tools()
    assert_twice_as_fast(slow, duration(speak))
    assert isinstance(listing, SmallestListVoicesTool) and listing.model == "lightning_v3.1_pro"
    toolkit.close()


def test_a_bad_assignment_raises_naming_the_field_and_changes_nothing():
    speech = SmallestSpeech(api_key="sk_x")
    with pytest.raises(InvalidOptionError, match=r"speed=3.0 is out of range"):
        speech.speed = 3.0
    with pytest.raises(InvalidOptionError, match="sample_rate=22050 is not supported"):
        speech.sample_rate = 22050
    with pytest.raises(ValidationError, match="speed"):
        speech.speed = "fast"  # type: ignore[assignment]
    with pytest.raises(ValueError, match="max_connections=0"):
        speech.max_connections = 0
    assert (speech.speed, speech.sample_rate, speech.max_connections) == (1.0, 24000, 4)

    tool = SmallestTextToSpeechTool(api_key="sk_x")
    with pytest.raises(InvalidOptionError, match=r"output_format='ogg'"):
        tool.output_format = "ogg"
    with pytest.raises(ValueError, match="timeout=0"):
        tool.timeout = 0
    with pytest.raises(ValueError, match="no Smallest API key"):
        tool.api_key = " "  # type: ignore[assignment]
    assert (tool.output_format, tool.timeout) == ("wav", 30.0)
    with pytest.raises(InvalidOptionError, match="model='lightning'"):
        SmallestToolkit(api_key="sk_x").model = "lightning"
    with pytest.raises(ValidationError, match="voice"):  # a misspelled setting is not dropped
        speech.voice = "meher"


# -- model_copy -------------------------------------------------------------------------------
async def test_a_copy_with_changes_speaks_with_them(smallest_server: Server):
    speech = SmallestSpeech(**keys(smallest_server))
    fast_copy = speech.model_copy(update={"speed": 2.0})
    slow = len(await speech.ainvoke(TEXT))
    assert_twice_as_fast(slow, len(await fast_copy.ainvoke(TEXT)))
    assert len(await speech.ainvoke(TEXT)) == slow  # the original is untouched
    await fast_copy.aclose()
    await speech.aclose()

    tool = SmallestTextToSpeechTool(**keys(smallest_server))
    assert_twice_as_fast(duration(tool), duration(tool.model_copy(update={"speed": 2.0})))


def test_a_copy_with_a_bad_change_raises_naming_the_field():
    speech = SmallestSpeech(api_key="sk_x")
    with pytest.raises(InvalidOptionError, match=r"speed=3.0 is out of range"):
        speech.model_copy(update={"speed": 3.0})
    with pytest.raises(InvalidOptionError, match="sample_rate=22050"):
        SmallestTextToSpeechTool(api_key="sk_x").model_copy(update={"sample_rate": 22050})
    with pytest.raises(ValueError, match="max_retries=-1"):
        SmallestToolkit(api_key="sk_x").model_copy(update={"max_retries": -1})


# -- configurable_fields ----------------------------------------------------------------------
async def test_configurable_fields_apply_per_call_and_are_validated(smallest_server: Server):
    speech = SmallestSpeech(**keys(smallest_server))
    configurable = speech.configurable_fields(speed=ConfigurableField(id="speed"))
    slow = len(await configurable.ainvoke(TEXT))
    fast = len(await configurable.ainvoke(TEXT, {"configurable": {"speed": 2.0}}))
    assert_twice_as_fast(slow, fast)
    with pytest.raises(InvalidOptionError, match=r"speed=3.0 is out of range"):
        await configurable.ainvoke(TEXT, {"configurable": {"speed": 3.0}})
    await speech.aclose()

    tool = SmallestTextToSpeechTool(**keys(smallest_server))
    voiced = tool.configurable_fields(speed=ConfigurableField(id="speed"))
    fast_call = voiced.invoke(
        {"type": "tool_call", "id": "t1", "name": tool.name, "args": {"text": TEXT}},
        {"configurable": {"speed": 2.0}},
    )
    assert_twice_as_fast(duration(tool), fast_call.artifact.duration)


def test_an_assigned_transcription_field_is_checked_and_used(smallest_server: Server):
    """The transcription tool's settings are live too: a bad value is refused naming the
    field (the old one stays), a good one is the next call's."""
    stt = SmallestSpeechToTextTool(**keys(smallest_server))
    with pytest.raises(InvalidOptionError) as info:
        stt.sample_rate = 12345
    assert info.value.field == "sample_rate" and stt.sample_rate == 16000
    stt.language = "hi"
    assert stt.options.language == "hi"
