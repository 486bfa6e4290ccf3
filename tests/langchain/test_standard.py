"""LangChain's standard tool suites, for each of the four tools.

The unit suites never call the tool (constructor, schema, env). The integration suites
call it through ``invoke``/``ainvoke`` with and without a ToolCall, against a local
server over real sockets: the function-scoped ``smallest_server`` fixture is bound to the
test instance by an autouse fixture, and ``tool_constructor_params`` points the tool at it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_tests.integration_tests import ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

from langchain_smallest import (
    SmallestCloneVoiceTool,
    SmallestListVoicesTool,
    SmallestSpeechToTextTool,
    SmallestTextToSpeechTool,
)
from smallest_core import pcm_to_wav
from smallest_local import Server
from smallest_local.engines import ToneEngine

from .conftest import write_voice_sample

UNIT_PARAMS = {"api_key": "sk_unit_test_key", "base_url": "http://127.0.0.1:9"}
ENV = (
    {"SMALLEST_API_KEY": "sk_from_env", "SMALLEST_BASE_URL": "http://127.0.0.1:8765"},
    {},
    {"api_key": "sk_from_env", "base_url": "http://127.0.0.1:8765"},
)


class _AgainstLocalServer:
    """Binds the per-test local server to the suite instance before ``tool`` is built."""

    server: Server
    sample: Path
    speech: Path

    @pytest.fixture(autouse=True)
    def _local_server(self, smallest_server: Server, tmp_path: Path) -> None:
        self.server = smallest_server
        self.sample = write_voice_sample(tmp_path / "sample.wav")
        tone = ToneEngine().synthesize("w w", voice_id="", sample_rate=16000, tag="std").pcm
        self.speech = tmp_path / "speech.wav"
        self.speech.write_bytes(pcm_to_wav(tone, 16000))

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"api_key": self.server.api_key, "base_url": self.server.http_url}


# -- text to speech -----------------------------------------------------------------------------
class TestTextToSpeechUnit(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[SmallestTextToSpeechTool]:
        return SmallestTextToSpeechTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return UNIT_PARAMS

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"text": "Hello from the standard tests.", "speed": 1.2}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return ENV


class TestTextToSpeechIntegration(_AgainstLocalServer, ToolsIntegrationTests):
    @property
    def tool_constructor(self) -> type[SmallestTextToSpeechTool]:
        return SmallestTextToSpeechTool

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"text": "Hello from the standard tests.", "speed": 1.2}


# -- list voices --------------------------------------------------------------------------------
class TestListVoicesUnit(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[SmallestListVoicesTool]:
        return SmallestListVoicesTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return UNIT_PARAMS

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"language": "english"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return ENV


class TestListVoicesIntegration(_AgainstLocalServer, ToolsIntegrationTests):
    @property
    def tool_constructor(self) -> type[SmallestListVoicesTool]:
        return SmallestListVoicesTool

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"language": "english"}


# -- clone voice --------------------------------------------------------------------------------
class TestCloneVoiceUnit(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[SmallestCloneVoiceTool]:
        return SmallestCloneVoiceTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return UNIT_PARAMS

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"file_path": "recordings/me.wav", "display_name": "My voice"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return ENV


class TestCloneVoiceIntegration(_AgainstLocalServer, ToolsIntegrationTests):
    @property
    def tool_constructor(self) -> type[SmallestCloneVoiceTool]:
        return SmallestCloneVoiceTool

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"file_path": str(self.sample), "display_name": "Standard test voice"}


# -- speech to text -----------------------------------------------------------------------------
class TestSpeechToTextUnit(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[SmallestSpeechToTextTool]:
        return SmallestSpeechToTextTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return UNIT_PARAMS

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"file_path": "recordings/call.wav", "language": "en"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return ENV


class TestSpeechToTextIntegration(_AgainstLocalServer, ToolsIntegrationTests):
    @property
    def tool_constructor(self) -> type[SmallestSpeechToTextTool]:
        return SmallestSpeechToTextTool

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"file_path": str(self.speech)}
