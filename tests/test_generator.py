"""The llama.cpp runtime on the tiny packaged generator (SmolLM2-135M): real model, short outputs."""

import json

import pytest

from slmkit.errors import InvalidInputError
from slmkit.models.llama import get_generator


@pytest.fixture(scope="module")
def tiny():
    return get_generator("smollm2-135m").warm_up()


def test_one_instance_per_process(tiny):
    assert get_generator("smollm2-135m") is tiny


def test_chat_returns_text_and_token_counts(tiny):
    result = tiny.chat([{"role": "user", "content": "Say hello."}], max_tokens=12)
    assert result.text.strip()
    assert result.prompt_tokens > 3 and 0 < result.completion_tokens <= 12
    assert result.finish_reason in {"stop", "length"}


def test_streaming_yields_pieces_then_a_final_count(tiny):
    deltas = list(tiny.stream([{"role": "user", "content": "Count: one, two, three"}], max_tokens=10))
    assert deltas[-1].finish_reason in {"stop", "length"}
    assert "".join(d.text for d in deltas).strip()
    assert deltas[-1].completion_tokens > 0 and deltas[-1].prompt_tokens > 0


def test_json_schema_output_is_valid(tiny):
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
    }
    result = tiny.chat([{"role": "user", "content": "Trip: 3 days in Rome. Give city and days as JSON."}],
                       max_tokens=40, json_schema=schema)
    data = json.loads(result.text)
    assert isinstance(data["city"], str) and isinstance(data["days"], int)


def test_bad_requests_are_clear_errors(tiny):
    with pytest.raises(InvalidInputError, match="messages is empty"):
        tiny.chat([])
    with pytest.raises(InvalidInputError, match="role"):
        tiny.chat([{"role": "wizard", "content": "hi"}])
    with pytest.raises(InvalidInputError, match="exceeds the context"):
        tiny.chat([{"role": "user", "content": "word " * 3000}], max_tokens=16)


def test_a_schema_llama_cpp_cannot_parse_is_refused_not_a_crash(tiny):
    # The converter accepts this pattern but the C grammar parser rejects the result: generating
    # with it used to segfault the whole process.
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": r"^\d{4}$"}}}
    with pytest.raises(InvalidInputError, match="rejects the grammar"):
        tiny.chat([{"role": "user", "content": "a code"}], max_tokens=8, json_schema=schema)
    with pytest.raises(InvalidInputError, match="cannot turn this schema"):
        tiny.chat([{"role": "user", "content": "x"}], max_tokens=8,
                  json_schema={"type": "object", "properties": {"a": {"not": {"type": "string"}}}})
