"""Tool calling on a local model, piece by piece: the prompt, the grammar, and the reader that turns
generated text into OpenAI tool calls as it streams. No model is loaded here (the gateway tests run
the real ones)."""

from __future__ import annotations

import json

import pytest

from slmkit.errors import InvalidInputError
from slmkit.models.llama import schema_grammar
from slmkit.models.tool_calls import ReplyReader, Tool, ToolCallPiece, ToolUse, call_schema, plain_history, with_tools

WEATHER = Tool("get_weather", "The weather in a city", {"type": "object", "properties": {"city": {"type": "string"}},
                                                         "required": ["city"]})
ADD = Tool("add", "Add two integers", {"type": "object", "properties": {"a": {"type": "integer"},
                                                                        "b": {"type": "integer"}}})


def _read(reader: ReplyReader, text: str) -> list[str | ToolCallPiece]:
    out: list[str | ToolCallPiece] = []
    for ch in text:  # one character at a time: the hardest split a tokenizer could make
        out += reader.feed(ch)
    return out + reader.finish()


def test_a_call_streams_its_name_first_then_arguments_that_add_up():
    reader = ReplyReader(ToolUse((WEATHER, ADD), "required"))
    pieces = _read(reader, '{"name": "add", "arguments": {"a": 2, "b": {"x": [1, "}"]} } } ')
    calls = [p for p in pieces if isinstance(p, ToolCallPiece)]
    assert calls[0].name == "add" and calls[0].id and not any(p.name for p in calls[1:])
    assert "".join(p.arguments for p in calls) == reader.calls[0].arguments
    assert reader.calls[0].arguments == '{"a": 2, "b": {"x": [1, "}"]} }'  # the envelope's brace is not in it
    assert reader.finish_reason("stop") == "tool_calls" and reader.finish_reason("length") == "length"


def test_with_auto_plain_text_stays_text_and_a_cut_call_keeps_what_it_had():
    reader = ReplyReader(ToolUse((WEATHER,), "auto"))
    assert "".join(p for p in _read(reader, "  It is sunny.") if isinstance(p, str)) == "  It is sunny."
    assert not reader.calls and reader.finish_reason("stop") == "stop"
    cut = ReplyReader(ToolUse((WEATHER,), "auto"))
    _read(cut, '{"name": "get_weather", "arguments": {"ci')
    assert cut.calls[0].arguments == '{"ci' and cut.finish_reason("length") == "length"


def test_the_grammar_hoists_each_tools_defs_and_refuses_remote_refs():
    nested = Tool("book", "", {"type": "object", "properties": {"trip": {"$ref": "#/$defs/Trip"}},
                               "$defs": {"Trip": {"type": "object", "properties": {"city": {"type": "string"}}}}})
    schema = call_schema(ToolUse((nested, WEATHER), "auto"))
    assert set(schema["$defs"]) == {"t0_Trip"} and "#/$defs/t0_Trip" in json.dumps(schema)
    assert "root ::=" in schema_grammar(schema)
    remote = Tool("x", "", {"type": "object", "properties": {"a": {"$ref": "https://example.org/a.json"}}})
    with pytest.raises(InvalidInputError, match="only local"):
        call_schema(ToolUse((remote,), "auto"))
    with pytest.raises(InvalidInputError, match="not in tools"):
        call_schema(ToolUse((WEATHER,), "required", force="nope"))


def test_tool_turns_become_plain_turns_and_answered_tools_are_not_offered_again():
    call = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
    messages = [{"role": "user", "content": "Weather in Oslo?"},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "c1", "content": "-3 C, snow"}]
    plain = plain_history(messages)
    assert [m["role"] for m in plain] == ["user", "assistant", "user"]
    assert json.loads(plain[1]["content"]) == {"name": "get_weather", "arguments": {"city": "Oslo"}}
    assert plain[2]["content"] == "Result of get_weather: -3 C, snow"
    use = ToolUse((WEATHER, ADD), "auto").for_local(messages)
    assert [t.name for t in use.offered] == ["add"]
    assert ToolUse((WEATHER,), "required").for_local(messages).offered == (WEATHER,)  # asked for: still offered
    prompt = with_tools(plain, use)
    assert prompt[0]["role"] == "system" and '"add"' in prompt[0]["content"]
    assert "get_weather" not in prompt[0]["content"]
