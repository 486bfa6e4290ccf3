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
    # the scans run only when their literal is present: "bearer" in any case, "sk_" as is
    assert redact("AUTHORIZATION: BEARER abcdefghijklmnopqrstu") == "AUTHORIZATION: BEARER [secure]"
    assert redact("bearer 12345678-abcd") == "bearer [secure]"
    assert redact("internal error") == "internal error"


PLAIN = "plainkey-without-a-known-shape-4242"  # no sk_ prefix: only the registry knows it


@pytest.mark.smallest_server(api_keys=(PLAIN,))
async def test_a_key_of_no_known_shape_is_redacted_while_its_client_lives(
    smallest_server: Server, caplog
):
    caplog.set_level(logging.DEBUG)
    async with AsyncRestClient(api_key=PLAIN, base_url=smallest_server.http_url) as rest:
        with pytest.raises(InvalidRequestError) as info:  # the server quotes it back
            await rest.synthesize("x", options=TTSOptions(voice_id=PLAIN))
        pool = ConnectionPool(api_key=PLAIN, base_url=smallest_server.ws_url)
        utt = await pool.utterance("p")
        await utt.end("hello there")
        assert [e async for e in utt]
        await pool.aclose()
    texts = [str(info.value), repr(info.value), repr(pool), repr(rest)]
    texts += ["".join(traceback.format_exception(info.value))]
    texts += [record.getMessage() for record in caplog.records]
    for text in texts:
        assert PLAIN not in text, text
    assert redact(f"echo {PLAIN}") == "echo [secure]"


def test_the_registry_forgets_keys_of_clients_that_are_gone():
    """Per client, not a process-global set that grows with every key ever used."""
    import gc

    key = "another-plain-key-0000111122223333"
    client = RestClient(api_key=key, base_url="http://127.0.0.1:9")
    assert redact(key) == "[secure]"
    client.close()
    del client
    gc.collect()
    assert redact(key) == key


async def test_no_user_text_in_logs_at_any_level(smallest_server: Server, caplog):
    """Frames are logged with ids and lengths only: text and words never appear."""
    caplog.set_level(logging.DEBUG)
    secret_words = "Zanzibar quixotic marmalade"
    async with ConnectionPool(
        api_key=smallest_server.api_key,
        base_url=smallest_server.ws_url,
        options=TTSOptions(word_timestamps=True),
    ) as pool:
        utt = await pool.utterance("private")
        await utt.push_text(secret_words + ". ")
        await utt.end("Another sentence.")
        events = [e async for e in utt]
    assert any(getattr(e, "word", "") == "Zanzibar" for e in events)  # words did flow
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "private" in logged  # the id is there, for correlation
    for word in secret_words.split():
        assert word not in logged
