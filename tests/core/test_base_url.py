"""One base URL for both transports, from the argument or ``$SMALLEST_BASE_URL``."""

from __future__ import annotations

import pytest

from smallest_core import (
    BASE_URL_ENV,
    AsyncRestClient,
    AudioChunk,
    ConnectionPool,
    InvalidOptionError,
    RestClient,
    StreamConnection,
)
from smallest_local import Server


async def test_rest_and_stream_take_one_url_of_either_scheme(smallest_server: Server):
    ws, http = smallest_server.ws_url, smallest_server.http_url
    for base in (ws, http):
        async with AsyncRestClient(api_key=smallest_server.api_key, base_url=base) as rest:
            assert len(await rest.synthesize("hi")) > 0
        async with ConnectionPool(api_key=smallest_server.api_key, base_url=base) as pool:
            utt = await pool.utterance()
            await utt.end("hi")
            assert [e async for e in utt if isinstance(e, AudioChunk)]


async def test_the_environment_supplies_the_base_url(
    smallest_server: Server, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv(BASE_URL_ENV, smallest_server.http_url)
    with RestClient(api_key=smallest_server.api_key) as rest:
        assert len(rest.synthesize("hi")) > 0
    async with ConnectionPool(api_key=smallest_server.api_key) as pool:
        utt = await pool.utterance()
        await utt.end("hi")
        assert [e async for e in utt if isinstance(e, AudioChunk)]


@pytest.mark.parametrize("bad", ["ftp://example.com", "example.com", "http://"])
def test_a_bad_base_url_fails_at_construction_naming_the_field(bad: str):
    for make in (
        lambda: RestClient(api_key="k" * 8, base_url=bad),
        lambda: ConnectionPool(api_key="k" * 8, base_url=bad),
        lambda: StreamConnection(api_key="k" * 8, base_url=bad),
    ):
        with pytest.raises(InvalidOptionError, match="base_url"):
            make()


async def test_a_base_url_naming_the_api_path_is_taken_to_its_root(smallest_server: Server):
    """``…/waves/v1`` (the official LiveKit plugin's spelling) and the live URL itself
    reach the same server as the bare host, on both transports."""
    for suffix in ("/waves/v1", "/waves/v1/", "/waves/v1/tts/live"):
        for root in (smallest_server.http_url, smallest_server.ws_url):
            base = root + suffix
            async with AsyncRestClient(api_key=smallest_server.api_key, base_url=base) as rest:
                assert len(await rest.synthesize("hi")) > 0
            async with ConnectionPool(api_key=smallest_server.api_key, base_url=base) as pool:
                utt = await pool.utterance()
                await utt.end("hi")
                assert [e async for e in utt if isinstance(e, AudioChunk)]
