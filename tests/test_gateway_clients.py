"""Frameworks against the gateway, as their users would point them at it: LangChain's ChatOpenAI (tool
binding, structured output through function calling, streamed tool calls) and llama-index's OpenAILike.

Real server, real small local tier (SmolLM2-135M): the calls are grammar-constrained, so their shape is
what is checked, not how wise the tiny model's arguments are. Skipped when the packages are absent."""

from __future__ import annotations

import pytest

from conftest import serve_app
from slmkit.config import Settings
from slmkit.config.router import RouterSettings, TierConfig


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    from slmkit.gateway.app import create_app

    tiers = {"small": TierConfig(model="smollm2-135m"), "large": TierConfig(model="smollm2-135m")}
    settings = Settings(data_dir=tmp_path_factory.mktemp("gateway-clients"),
                        router=RouterSettings(tiers=tiers, strategy="small"))
    with serve_app(create_app(settings)) as url:
        yield url + "/v1"


def _chat(base: str, **options):  # noqa: ANN202
    langchain_openai = pytest.importorskip("langchain_openai")
    return langchain_openai.ChatOpenAI(base_url=base, api_key="unused-on-loopback", model="small", temperature=0,
                                       max_retries=0, timeout=120, **options)


def _weather_tool():  # noqa: ANN202
    from langchain_core.tools import tool

    @tool
    def get_weather(city: str) -> str:
        """The current weather in a city."""
        return "18 C and sunny"

    return get_weather


def test_langchain_bind_tools_gets_a_tool_call_and_takes_its_result_back(base):
    from langchain_core.messages import HumanMessage, ToolMessage

    llm = _chat(base, max_tokens=40)
    get_weather = _weather_tool()
    question = HumanMessage("What is the weather in Paris?")
    reply = llm.bind_tools([get_weather], tool_choice="any").invoke([question])
    assert reply.tool_calls and reply.tool_calls[0]["name"] == "get_weather"
    assert isinstance(reply.tool_calls[0]["args"]["city"], str) and reply.tool_calls[0]["id"]
    assert reply.response_metadata["finish_reason"] == "tool_calls"
    # The follow-up an agent sends: the assistant's call, then the tool's result. Answered, not a 400.
    result = ToolMessage(get_weather.invoke(reply.tool_calls[0]["args"]), tool_call_id=reply.tool_calls[0]["id"])
    after = _chat(base, max_tokens=12).bind_tools([get_weather]).invoke([question, reply, result])
    assert after.content.strip() or after.tool_calls


def test_langchain_structured_output_through_function_calling(base):
    from pydantic import BaseModel

    class Trip(BaseModel):
        city: str
        days: int

    llm = _chat(base, max_tokens=40)
    trip = llm.with_structured_output(Trip, method="function_calling").invoke("Three days in Rome, please.")
    assert isinstance(trip, Trip) and isinstance(trip.days, int)


def test_langchain_streams_a_tool_call_in_pieces(base):
    llm = _chat(base, max_tokens=40)
    chunks = list(llm.bind_tools([_weather_tool()], tool_choice="get_weather").stream("Weather in Oslo?"))
    assert sum(1 for c in chunks if c.tool_call_chunks) > 2  # the arguments arrive as they are written
    whole = chunks[0]
    for c in chunks[1:]:
        whole += c
    assert whole.tool_calls[0]["name"] == "get_weather" and isinstance(whole.tool_calls[0]["args"]["city"], str)


def test_llama_index_openai_like_chats_and_streams(base):
    pytest.importorskip("llama_index.llms.openai_like")
    from llama_index.core.llms import ChatMessage
    from llama_index.llms.openai_like import OpenAILike

    llm = OpenAILike(model="small", api_base=base, api_key="unused-on-loopback", is_chat_model=True,
                     context_window=2048, max_tokens=12, temperature=0.0, max_retries=0, timeout=120)
    reply = llm.chat([ChatMessage(role="user", content="Say hello.")])
    assert reply.message.content.strip()
    pieces = list(llm.stream_chat([ChatMessage(role="user", content="Say hello.")]))
    assert len(pieces) > 1 and pieces[-1].message.content.strip()
