"""The API key never appears in logs, reprs, error messages or tracebacks."""

from __future__ import annotations

import logging
import traceback

import pytest

from smallest_core import (
    AsyncRestClient,
    AuthenticationError,
    ConnectionPool,
    InvalidRequestError,
    RestClient,
    StreamConnection,
    TTSOptions,
    redact,
)
from smallest_local import Server

SECRET = "sk_live_test_secret_9f8e7d6c5b4a"


async def test_failing_synthesis_leaks_the_key_nowhere(smallest_server: Server, caplog):
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    conn = StreamConnection(api_key=SECRET, base_url=smallest_server.ws_url)
    texts.append(repr(conn))
    with pytest.raises(AuthenticationError) as ws_err:
        await conn.connect()
    texts += [str(ws_err.value), repr(ws_err.value)]
    texts.append("".join(traceback.format_exception(ws_err.value)))

    pool = ConnectionPool(api_key=SECRET, base_url=smallest_server.ws_url)
    texts.append(repr(pool))
    with pytest.raises(AuthenticationError) as pool_err:
        await pool.utterance("x")
    await pool.aclose()
    texts.append("".join(traceback.format_exception(pool_err.value)))

    async with AsyncRestClient(api_key=SECRET, base_url=smallest_server.http_url) as rest:
        texts.append(repr(rest))
        with pytest.raises(AuthenticationError) as rest_err:
            await rest.synthesize("hello")
    texts.append("".join(traceback.format_exception(rest_err.value)))
    with RestClient(api_key=SECRET, base_url=smallest_server.http_url) as sync:
        texts.append(repr(sync))

    texts += [record.getMessage() for record in caplog.records]
    texts.append(repr(TTSOptions()))
    for text in texts:
        assert SECRET not in text, text


async def test_a_server_echoing_the_key_is_redacted(smallest_server: Server):
    """An error body that quotes the key (here: as a voice id) is redacted in the error."""
    async with AsyncRestClient(api_key=smallest_server.api_key,
                               base_url=smallest_server.http_url) as rest:  # fmt: skip
        with pytest.raises(InvalidRequestError) as info:
            await rest.synthesize("x", options=TTSOptions(voice_id=smallest_server.api_key))
    assert smallest_server.api_key not in str(info.value)
    assert "[secure]" in str(info.value)


def test_redact_shapes():
    assert redact(f"Authorization: Bearer {SECRET}") == "Authorization: Bearer [secure]"
    assert redact(f"key={SECRET}") == "key=[secure]"
    assert redact("Bearer token is missing or invalid.") == "Bearer token is missing or invalid."
