"""Fake chat models and a small agent loop for the LangChain adapter tests.

The fakes come from langchain-core's own ``BaseChatModel`` so the real Runnable
machinery (callbacks, streaming, ``|``) runs around them. langchain-core's fakes do not
implement ``bind_tools`` (guides/langchain.md §5), hence :class:`ScriptedChatModel`.
"""

from __future__ import annotations

import asyncio
import re
import threading
import wave
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.tools import BaseTool
from pydantic import PrivateAttr

#: How long a gated model waits for the test to see audio before declaring failure.
GATE_TIMEOUT_S = 20.0


class ScriptedChatModel(BaseChatModel):
    """Answers with the scripted replies in order: an AIMessage, or a function of the
    conversation so far that returns one (to use ids a tool returned earlier)."""

    replies: list[Any]  # AIMessage | Callable[[list[BaseMessage]], AIMessage]
    _next: int = PrivateAttr(default=0)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:  # type: ignore[override]
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        reply = self.replies[self._next]
        self._next += 1
        if callable(reply):
            reply = reply(messages)
        return ChatResult(generations=[ChatGeneration(message=reply)])


def tokens(text: str) -> list[str]:
    """Word-sized tokens with their trailing whitespace, as an LLM streams them."""
    return re.findall(r"\S+\s*", text)


class GatedStreamingModel(BaseChatModel):
    """Streams ``text`` token by token, and after ``gate_after`` tokens waits for ``gate``.

    The test sets the gate when it receives the first audio. If audio only came after
    the model had finished, the model would wait in vain and fail the run: so a passing
    run proves the first audio arrived while the model was still streaming — with no
    sleep anywhere.
    """

    text: str
    gate_after: int
    _gate: threading.Event = PrivateAttr(default_factory=threading.Event)
    _agate: asyncio.Event | None = PrivateAttr(default=None)
    _finished: bool = PrivateAttr(default=False)
    _cancelled: bool = PrivateAttr(default=False)
    _agate_cancelled: asyncio.Event | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "gated"

    @property
    def finished(self) -> bool:
        """Whether the last token has been emitted."""
        return self._finished

    @property
    def cancelled(self) -> bool:
        """Whether the async stream was cancelled while waiting at the gate."""
        return self._cancelled

    async def wait_cancelled(self) -> None:
        """Return once the async stream has been cancelled at the gate (or time out)."""
        assert self._agate_cancelled is not None, "the async stream never started"
        await asyncio.wait_for(self._agate_cancelled.wait(), GATE_TIMEOUT_S)

    def open_gate(self) -> None:
        """Let the rest of the answer through (call from the consumer's side)."""
        self._gate.set()
        if self._agate is not None:
            self._agate.set()

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self.text))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for i, token in enumerate(tokens(self.text)):
            if i == self.gate_after and not self._gate.wait(GATE_TIMEOUT_S):
                raise AssertionError("no audio reached the consumer while the model streamed")
            yield ChatGenerationChunk(message=AIMessageChunk(content=token))
        self._finished = True

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        self._agate = asyncio.Event()
        self._agate_cancelled = asyncio.Event()
        if self._gate.is_set():
            self._agate.set()
        for i, token in enumerate(tokens(self.text)):
            if i == self.gate_after:
                try:
                    await asyncio.wait_for(self._agate.wait(), GATE_TIMEOUT_S)
                except asyncio.CancelledError:
                    self._cancelled = True
                    self._agate_cancelled.set()
                    raise
                except TimeoutError:
                    raise AssertionError(
                        "no audio reached the consumer while the model streamed"
                    ) from None
            yield ChatGenerationChunk(message=AIMessageChunk(content=token))
        self._finished = True


def run_agent(model: BaseChatModel, tools: list[BaseTool], question: str) -> list[BaseMessage]:
    """The tool-calling loop: model → tool calls → ToolMessages → model, until it answers."""
    by_name = {tool.name: tool for tool in tools}
    bound = model.bind_tools(tools)
    messages: list[BaseMessage] = [HumanMessage(question)]
    while True:
        reply = bound.invoke(messages)
        messages.append(reply)
        if not isinstance(reply, AIMessage) or not reply.tool_calls:
            return messages
        for call in reply.tool_calls:
            messages.append(by_name[call["name"]].invoke(call))


async def arun_agent(
    model: BaseChatModel, tools: list[BaseTool], question: str
) -> list[BaseMessage]:
    """The async twin of :func:`run_agent` (``ainvoke`` everywhere)."""
    by_name = {tool.name: tool for tool in tools}
    bound = model.bind_tools(tools)
    messages: list[BaseMessage] = [HumanMessage(question)]
    while True:
        reply = await bound.ainvoke(messages)
        messages.append(reply)
        if not isinstance(reply, AIMessage) or not reply.tool_calls:
            return messages
        for call in reply.tool_calls:
            messages.append(await by_name[call["name"]].ainvoke(call))


def write_voice_sample(path: Path, seconds: float = 2.0, rate: int = 16000) -> Path:
    """A WAV recording long enough for a clone job (a plain ramp; content is not checked)."""
    frames = ((np.arange(int(seconds * rate)) * 37) % 2000 - 1000).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return path
