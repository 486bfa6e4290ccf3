"""The error taxonomy and its three mapping tables (PROTOCOL.md §5.1, §5.3, §5.4, §6, §8)."""

from __future__ import annotations

import builtins
import copy
import pickle

import pytest

from smallest_core import RetryPolicy
from smallest_core.classify import error_from_close, error_from_frame, error_from_status
from smallest_core.errors import (
    AuthenticationError,
    ConnectionLostError,
    InvalidOptionError,
    InvalidRequestError,
    InvalidState,
    ModelDeprecatedError,
    PermissionDeniedError,
    PlanNotEntitledError,
    ProtocolError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    SmallestError,
)

KEY = "sk_live_abcdef123456"


class TestHierarchy:
    """errors.py docstring tree: ``retryable`` set right on every class."""

    @pytest.mark.parametrize(
        ("cls", "retryable"),
        [
            (SmallestError, False),
            (InvalidOptionError, False),
            (InvalidState, False),
            (AuthenticationError, False),
            (PermissionDeniedError, False),
            (PlanNotEntitledError, False),
            (InvalidRequestError, False),
            (ModelDeprecatedError, False),
            (RateLimitError, True),
            (ServerError, True),
            (ConnectionLostError, True),
            (ProtocolError, True),
            (RequestTimeoutError, True),
        ],
    )
    def test_retryable_class_attribute(self, cls: type[SmallestError], retryable: bool):
        assert cls.retryable is retryable

    def test_an_instance_may_override_retryable(self):
        err = ServerError("x", retryable=False)
        assert err.retryable is False and ServerError.retryable is True

    def test_builtin_bases_keep_except_clauses_working(self):
        assert issubclass(RequestTimeoutError, builtins.TimeoutError)
        assert issubclass(InvalidState, AssertionError)
        assert issubclass(InvalidOptionError, ValueError)
        with pytest.raises(builtins.TimeoutError):
            raise RequestTimeoutError("slow")

    def test_subclasses(self):
        assert issubclass(PlanNotEntitledError, PermissionDeniedError)
        assert issubclass(ModelDeprecatedError, InvalidRequestError)

    def test_keys_are_redacted_from_message_body_and_repr(self):
        err = ServerError(f"boom with {KEY}", body=f'{{"key": "{KEY}"}}', code="X")
        assert KEY not in str(err) and KEY not in repr(err) and KEY not in (err.body or "")
        assert "[secure]" in str(err)

    def test_repr_shows_class_message_and_set_attributes(self):
        err = RateLimitError("slow down", status_code=429, retry_after=2.0)
        assert repr(err) == "RateLimitError('slow down', status_code=429, retry_after=2.0)"

    @pytest.mark.parametrize(
        "err",
        [
            RateLimitError("r", status_code=429, retry_after=1.5, request_id="u-1"),
            RequestTimeoutError("idle"),
            InvalidOptionError("speed", 9, "0.5..2.0"),
            ServerError("s", retryable=False),
        ],
    )
    def test_errors_survive_pickle_and_copy(self, err: SmallestError):
        for clone in (pickle.loads(pickle.dumps(err)), copy.copy(err)):
            assert type(clone) is type(err)
            assert str(clone) == str(err) and vars(clone) == vars(err)
            assert clone.retryable is err.retryable


class TestFromStatus:
    """§8: HTTP statuses and the error bodies the service sends."""

    @pytest.mark.parametrize(
        ("status", "cls"),
        [
            (400, InvalidRequestError),
            (401, AuthenticationError),
            (403, PermissionDeniedError),
            (404, InvalidRequestError),
            (408, ServerError),
            (409, InvalidRequestError),
            (410, ModelDeprecatedError),
            (413, InvalidRequestError),
            (422, InvalidRequestError),
            (429, RateLimitError),
            (500, ServerError),
            (502, ServerError),
            (503, ServerError),
            (599, ServerError),
            (302, ProtocolError),
        ],
    )
    def test_status_table(self, status: int, cls: type[SmallestError]):
        err = error_from_status(status, None, None)
        assert type(err) is cls and err.status_code == status
        assert str(status) in str(err)

    def test_tts_validation_body_gives_code_and_message(self):
        body = b'{"error":"InvalidRequest","message":"The \'text\' field is required."}'
        err = error_from_status(400, body, {})
        assert isinstance(err, InvalidRequestError) and err.code == "InvalidRequest"
        assert str(err) == "HTTP 400 InvalidRequest: The 'text' field is required."
        assert err.body == body.decode()

    def test_401_body_is_authentication_error_and_not_retryable(self):
        body = '{"error":"Unauthorized","message":"Bearer token is missing or invalid."}'
        err = error_from_status(401, body, None)
        assert isinstance(err, AuthenticationError) and not err.retryable
        assert err.code == "Unauthorized"

    def test_500_cloning_body_prefers_error_code(self):
        body = (
            '{"error":"InternalServerError","message":"An unexpected error occurred.",'
            '"error_code":"voice_clone_timeout"}'
        )
        err = error_from_status(500, body, None)
        assert isinstance(err, ServerError) and err.code == "voice_clone_timeout"
        assert "An unexpected error occurred." in str(err)

    def test_410_model_deprecated_body(self):
        body = (
            '{"status":"error","error_code":"MODEL_DEPRECATED","message":"lightning-v2 is retired",'
            '"recommended_endpoint":"/waves/v1/lightning-v3.1/get_speech"}'
        )
        err = error_from_status(410, body, None)
        assert isinstance(err, ModelDeprecatedError) and err.code == "MODEL_DEPRECATED"
        assert "lightning-v2 is retired" in str(err)

    def test_error_string_alone_is_the_message(self):
        err = error_from_status(400, '{"error":"No file provided"}', None)
        assert "No file provided" in str(err) and err.code is None

    def test_details_are_summarised(self):
        body = (
            '{"error":"Invalid request body","details":[{"path":["items",0,"word"],'
            '"message":"Required"}]}'
        )
        err = error_from_status(400, body, None)
        assert "Invalid request body (items.0.word: Required)" in str(err)

    def test_nested_error_object_is_read(self):
        err = error_from_status(400, '{"error":{"code":"BAD","message":"nope"}}', None)
        assert err.code == "BAD" and "nope" in str(err)

    def test_non_json_body_is_quoted_and_shortened(self):
        err = error_from_status(502, b"<html>" + b"x" * 1000 + b"</html>", None)
        assert isinstance(err, ServerError) and "<html>" in str(err)
        assert len(str(err)) < 400

    def test_missing_body_uses_the_reason_phrase(self):
        assert str(error_from_status(503, None, None)) == "HTTP 503 Service Unavailable"

    def test_key_echoed_in_a_body_is_redacted(self):
        err = error_from_status(401, f'{{"error":"Unauthorized","message":"bad key {KEY}"}}', None)
        assert KEY not in str(err) and KEY not in (err.body or "") and KEY not in repr(err)

    def test_correlation_headers_become_ids(self):
        headers = {"x-request-id": "srv-1", "X-External-Request-Id": "mine-1"}
        err = error_from_status(500, None, headers)
        assert (err.server_request_id, err.request_id) == ("srv-1", "mine-1")

    def test_empty_external_request_id_means_none(self):
        # §1: the header is an empty string when the client sent no request_id.
        assert error_from_status(500, None, {"X-External-Request-Id": ""}).request_id is None


class TestPlanEntitlement:
    """§8 best reading of ``PlanNotEntitledError``."""

    def test_400_naming_upgrade_and_plan_is_plan_not_entitled(self):
        body = '{"status":false,"errors":["Voice cloning: please upgrade to a higher plan"]}'
        err = error_from_status(400, body, None)
        assert isinstance(err, PlanNotEntitledError) and err.status_code == 400
        assert "please upgrade to a higher plan" in str(err)

    def test_400_clone_limit_without_plan_is_an_invalid_request(self):
        err = error_from_status(400, '{"error":"clone limit exceeded, consider upgrading"}', None)
        assert type(err) is InvalidRequestError

    @pytest.mark.parametrize("text", ["Your plan lacks this model", "Not entitled", "Upgrade"])
    def test_403_mentioning_plan_is_plan_not_entitled(self, text: str):
        err = error_from_status(403, f'{{"error":"Forbidden","message":"{text}"}}', None)
        assert isinstance(err, PlanNotEntitledError)

    def test_other_403_is_permission_denied(self):
        body = '{"error":"Forbidden","message":"This model is not available for your organization"}'
        assert type(error_from_status(403, body, None)) is PermissionDeniedError


class TestRetryAfter:
    """§8: honour ``Retry-After``; the SDK also reads ``retry-after-ms``."""

    @pytest.mark.parametrize(
        ("headers", "expected"),
        [
            ({"Retry-After": "3"}, 3.0),
            ({"retry-after": "1.5"}, 1.5),
            ({"Retry-After": "-4"}, 0.0),
            ({"retry-after-ms": "250"}, 0.25),
            ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),
            ({"retry-after-ms": "soon", "Retry-After": "9"}, 9.0),
            ({"Retry-After": "soon"}, None),
            ({"Retry-After": "nan"}, None),
            ({}, None),
        ],
    )
    def test_retry_after_headers(self, headers: dict[str, str], expected: float | None):
        assert error_from_status(429, None, headers).retry_after == expected

    def test_http_date_is_relative_to_now(self):
        headers = {"Retry-After": "Wed, 21 Oct 2015 07:28:05 GMT"}
        now = 1445412480.0  # 2015-10-21 07:28:00 UTC
        assert error_from_status(429, None, headers, now=now).retry_after == 5.0

    def test_http_date_in_the_past_means_no_wait(self):
        headers = {"Retry-After": "Wed, 21 Oct 2015 07:28:05 GMT"}
        assert error_from_status(503, None, headers, now=2e9).retry_after == 0.0

    def test_rate_limit_is_retryable_and_carries_retry_after(self):
        err = error_from_status(429, '{"error":"TooManyRequests"}', {"Retry-After": "2"})
        assert isinstance(err, RateLimitError) and err.retryable and err.retry_after == 2.0


class TestFromFrame:
    """§5.3 error frames, flat and nested (§9.5), and what their text means (§5.1, §5.4)."""

    def test_idle_timeout_frame_is_a_retryable_timeout(self):
        frame = {
            "status": "error",
            "message": "Connection timed out after 60 seconds of inactivity",
        }
        err = error_from_frame(frame)
        assert isinstance(err, RequestTimeoutError) and err.retryable
        assert str(err) == "Connection timed out after 60 seconds of inactivity"
        assert err.request_id is None
        # the socket timed out, not a request: a request caught by it is retried at once
        assert err.retry_after == 0

    def test_a_request_timeout_frame_keeps_the_backoff(self):
        frame = {
            "status": "error",
            "code": "TIMEOUT",
            "external_request_id": "r1",
            "message": "slow",
        }
        err = error_from_frame(frame)
        assert isinstance(err, RequestTimeoutError) and err.retry_after is None

    def test_nested_shape_reads_code_and_message(self):
        err = error_from_frame({"status": "error", "error": {"message": "bad", "code": "BAD"}})
        assert err.code == "BAD" and str(err) == "BAD: bad"

    def test_local_server_shape_with_both_and_ids(self):
        frame = {
            "session_id": "ws_1",
            "request_id": "task_1",
            "external_request_id": "u-7",
            "context_id": "u-7",
            "status": "error",
            "message": "Invalid 'voice_id': 'nobody'.",
            "error": {"code": "INVALID_REQUEST", "message": "Invalid 'voice_id': 'nobody'."},
        }
        err = error_from_frame(frame)
        assert isinstance(err, InvalidRequestError) and not err.retryable
        assert (err.request_id, err.server_request_id) == ("u-7", "task_1")
        assert "voice_id" in str(err)

    def test_context_id_is_the_id_when_there_is_no_external_request_id(self):
        err = error_from_frame({"status": "error", "message": "x", "context_id": "c-1"})
        assert err.request_id == "c-1"

    @pytest.mark.parametrize(
        ("message", "code", "cls"),
        [
            ("Connection timed out after 5 seconds of inactivity", None, RequestTimeoutError),
            ("Concurrency limit exceeded", None, RateLimitError),
            ("Too many requests", None, RateLimitError),
            ("nope", "RATE_LIMITED", RateLimitError),
            ("nope", "CONCURRENCY_LIMIT", RateLimitError),
            ("nope", 429, RateLimitError),
            ("Invalid API key", None, AuthenticationError),
            ("nope", "UNAUTHORIZED", AuthenticationError),
            ("Voice 'x' not found", None, InvalidRequestError),
            ("sample_rate 11025 is not supported", None, InvalidRequestError),
            ("The 'text' field is required.", None, InvalidRequestError),
            ("nope", "INVALID_JSON", InvalidRequestError),
            ("Context 'a' is closed; use a new context_id.", "CONTEXT_CLOSED", InvalidRequestError),
            ("Please upgrade your plan", None, PlanNotEntitledError),
            ("Forbidden", None, PermissionDeniedError),
            ("nope", "MODEL_DEPRECATED", ModelDeprecatedError),
            ("Something broke", None, ServerError),
            (None, None, ServerError),
        ],
    )
    def test_classification(self, message: str | None, code: object, cls: type[SmallestError]):
        frame: dict[str, object] = {"status": "error"}
        if message is not None:
            frame["message"] = message
        if code is not None:
            frame["error"] = {"code": code}
        assert type(error_from_frame(frame)) is cls

    def test_an_explicit_code_beats_words_in_the_message(self):
        frame = {"status": "error", "message": "timed out parsing", "error": {"code": "INVALID"}}
        assert type(error_from_frame(frame)) is InvalidRequestError

    def test_legacy_sse_error_lists_errors(self):
        frame = {"status": "error", "message": "Bad input", "errors": ["text too long"]}
        assert "Bad input (text too long)" in str(error_from_frame(frame))

    def test_frame_text_is_redacted(self):
        err = error_from_frame({"status": "error", "message": f"key {KEY} rejected"})
        assert KEY not in str(err) and KEY not in (err.body or "")


class TestFromClose:
    """§5.4: TTS close codes are undocumented; the STT/Hydra analogues decide."""

    @pytest.mark.parametrize(
        ("code", "cls"),
        [
            (1000, ConnectionLostError),
            (1001, ConnectionLostError),
            (1006, ConnectionLostError),
            (1011, ConnectionLostError),
            (None, ConnectionLostError),
            (1008, RateLimitError),
            (1009, InvalidRequestError),
            (1013, ServerError),
            (4001, AuthenticationError),
            (4003, PermissionDeniedError),
            (4999, ConnectionLostError),
        ],
    )
    def test_close_table(self, code: int | None, cls: type[SmallestError]):
        assert type(error_from_close(code, "")) is cls

    def test_message_names_code_and_reason(self):
        err = error_from_close(1013, "try again later")
        assert str(err) == "WebSocket closed with code 1013: try again later"
        assert err.code == "ws_close_1013" and err.retryable

    @pytest.mark.parametrize("code", [1000, 1001])
    def test_a_close_on_purpose_is_retried_without_backoff(self, code: int):
        # an idle timeout or a close after complete: the server is not under strain
        err = error_from_close(code, "idle timeout")
        assert err.retryable and err.retry_after == 0
        assert RetryPolicy(base_delay=1.0).delay(1, err, elapsed=0.0) == 0

    @pytest.mark.parametrize("code", [None, 1011, 1013])
    def test_other_closes_back_off(self, code: int | None):
        err = error_from_close(code, "")
        assert err.retry_after is None
        assert RetryPolicy(base_delay=1.0, jitter=0).delay(1, err, elapsed=0.0) == 1.0

    def test_missing_close_frame_says_so(self):
        assert "without a close frame" in str(error_from_close(None, ""))

    def test_reason_is_redacted(self):
        assert KEY not in str(error_from_close(4001, f"bad key {KEY}"))


def test_error_frame_code_with_unicode_digits_does_not_crash():
    """Found by hypothesis: "¹" passes str.isdigit() but int() rejects it."""
    from smallest_core.classify import error_from_frame as _from_frame
    from smallest_core.errors import ServerError as _ServerError

    err = _from_frame({"status": "error", "message": "x", "error": {"code": "¹", "message": "x"}})
    assert isinstance(err, _ServerError)


class TestFieldNamed:
    """``err.field``: which request field the server's error is about (text or a setting)."""

    @pytest.mark.parametrize(
        ("message", "field"),
        [
            ("Invalid 'text': contains a lone surrogate.", "text"),
            ("The 'text' field is too long: 6000 characters (maximum 5000).", "text"),
            ("Unknown 'voice_id': 'nobody'. List voices with GET ...", "voice_id"),
            ('"sample_rate" must be one of 8000, 16000, 24000, 44100', "sample_rate"),
            ("Connection timed out after 60 seconds of inactivity", None),
            ("Unknown 'nobody' in 'somewhere'", None),
        ],
    )
    def test_from_a_frame_message(self, message: str, field: str | None):
        err = error_from_frame({"status": "error", "message": message, "request_id": "r"})
        assert err.field == field

    def test_from_a_zod_path_in_an_http_body(self):
        body = b'{"status": false, "errors": [{"message": "Too long", "path": ["text"]}]}'
        assert error_from_status(400, body).field == "text"

    def test_a_local_check_names_its_field_too(self):
        assert InvalidOptionError("speed", 9, "0.5-2.0").field == "speed"
