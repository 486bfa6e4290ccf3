"""langchain_smallest offline: transcribe a recording as a tool call and as Documents."""

from pathlib import Path

from langchain_smallest import SmallestAudioLoader, SmallestSpeechToTextTool
from smallest_core import RestClient, TTSOptions
from smallest_local import Server

with Server(engine="espeak") as server:  # a local Smallest-compatible server
    key, url = server.api_key, server.http_url  # defaults: $SMALLEST_API_KEY, the public API
    with RestClient(api_key=key, base_url=url) as rest:  # a recording to transcribe
        wav = rest.synthesize("Please call me back tomorrow morning.", options=TTSOptions(
            voice_id="magnus", sample_rate=16000, speed=0.8, output_format="wav"))  # fmt: skip
    Path("call.wav").write_bytes(wav)

    stt = SmallestSpeechToTextTool(api_key=key, base_url=url)
    message = stt.invoke({"type": "tool_call", "id": "1", "name": stt.name,
                          "args": {"file_path": "call.wav"}})  # fmt: skip
    print("tool:", message.content)  # the transcript; message.artifact is the Transcription

    [doc] = SmallestAudioLoader("call.wav", api_key=key, base_url=url).load()
    first = doc.metadata["words"][0]
    print(f"document: {doc.page_content} (first word {first['word']!r} at {first['start']} s)")
