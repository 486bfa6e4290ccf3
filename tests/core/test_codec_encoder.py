"""Request frames are encoded by one prebuilt JSON encoder: exactly ``json.dumps`` with
compact separators (what the frames were before), for any payload a frame can carry."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from smallest_core.codec import _dumps, ctx_text
from smallest_core.options import TTSOptions

payloads = st.dictionaries(
    st.text(max_size=8),
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),  # lone surrogates, control characters, non-ASCII: escaped the same
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=12,
    ),
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(payloads)
def test_the_prebuilt_encoder_is_json_dumps(payload: dict[str, object]) -> None:
    assert _dumps(payload) == json.dumps(payload, separators=(",", ":"))


def test_a_frame_is_unchanged() -> None:
    frame = ctx_text(TTSOptions(sample_rate=24000), "ctx-1", "Hé \ud800 \u2028 said", last=True)
    assert frame == json.dumps(json.loads(frame), separators=(",", ":"))
    assert '"text":"H\\u00e9 \\ud800 \\u2028 said"' in frame
