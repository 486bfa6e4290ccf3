"""A chat model's answer spoken while it streams, written to answer.wav (runs offline)."""

from pathlib import Path

from langchain_core.language_models import GenericFakeChatModel

from langchain_smallest import SmallestSpeech
from smallest_core import pcm_to_wav
from smallest_local import Server

ANSWER = "Of course. The museum opens at nine o'clock on Monday. I would like to see you there."

with Server(engine="espeak") as server:  # the real API: drop this, set SMALLEST_API_KEY
    model = GenericFakeChatModel(messages=iter([ANSWER]))  # streams word by word
    speech = SmallestSpeech(
        api_key=server.api_key, base_url=server.http_url, voice_id="magnus", speed=0.8
    )
    pcm = bytearray()
    for chunk in (model | speech).stream("When does the museum open?"):
        pcm += chunk  # play it as it comes: the first chunk precedes the model's last word
    speech.close()

Path("answer.wav").write_bytes(pcm_to_wav(bytes(pcm), speech.sample_rate))
print(f"wrote answer.wav: {len(pcm) / 2 / speech.sample_rate:.2f} s of speech")
