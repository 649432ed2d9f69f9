"""Request and response bodies, OpenAI-compatible where OpenAI defines them, so the published
OpenAPI schema says exactly what the server accepts and returns."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


# One text or a batch: the batch is bounded in items, each text by settings.max_text_chars (checked by the
# skills with a clear message). A bare ``max_length`` on ``str | list[str]`` would bound the string too.
Texts = str | Annotated[list[str], Field(max_length=256)]
EmbeddingTexts = str | Annotated[list[str], Field(max_length=2048)]


class ContentPart(BaseModel):
    """One part of a message's content. Any type validates; the chat endpoint reads text parts and
    refuses the others (images, audio, files) with an error that says so."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(max_length=64)
    text: str | None = Field(None, max_length=100_000)


TextPart = ContentPart  # the name this had when only text parts were accepted


class FunctionCall(BaseModel):
    name: str = Field(max_length=256)
    arguments: str = Field(max_length=100_000, description="The arguments as JSON text.")


class ToolCallItem(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str = Field(max_length=256)
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")  # name ... is accepted and ignored
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = Field(None, max_length=100_000)
    tool_calls: list[ToolCallItem] | None = Field(None, max_length=64, description="An assistant's earlier calls.")
    tool_call_id: str | None = Field(None, max_length=256, description="On a tool message: the call it answers.")

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text or "" for part in self.content if part.type == "text")


class FunctionDef(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = Field(None, max_length=10_000)
    parameters: dict[str, Any] | None = Field(None, description="JSON schema of the arguments.")
    strict: bool | None = None


class ToolDef(BaseModel):
    type: Literal["function"]
    function: FunctionDef


class NamedFunction(BaseModel):
    name: str = Field(max_length=64)


class NamedToolChoice(BaseModel):
    type: Literal["function"]
    function: NamedFunction


class JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    name: str = "answer"
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None


class ResponseFormat(BaseModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class ChatRequest(BaseModel):
    # OpenAI clients send more (user, metadata, store ...): accepted and ignored. Fields that would change
    # the answer and cannot be honoured (n > 1, logprobs) are refused by the endpoint, naming the field.
    model_config = ConfigDict(extra="allow")
    model: str = Field("auto", max_length=200, description="'auto' routes; a tier or model name pins it.")
    messages: list[ChatMessage] = Field(min_length=1, max_length=256)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1, le=8192)
    max_completion_tokens: int | None = Field(None, ge=1, le=8192)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    seed: int | None = Field(None, ge=-(2**63), le=2**63 - 1)
    stop: str | Annotated[list[str], Field(max_length=4)] | None = None
    n: int | None = Field(None, ge=1, le=128, description="Only 1: one answer per request.")
    logprobs: bool | None = Field(None, description="Only false: log-probabilities are not returned.")
    top_logprobs: int | None = Field(None, ge=0, le=20)
    response_format: ResponseFormat | None = None
    tools: list[ToolDef] | None = Field(None, max_length=128)
    tool_choice: Literal["auto", "none", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = Field(None, description="Accepted; a reply holds at most one call.")


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    tool_calls: list[ToolCallItem] | None = None


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: str


class RoutingInfo(BaseModel):
    tier: str
    strategy: str
    reason: str
    confidence: float | None = None
    escalated: bool = False
    fallback: str | None = None
    cost_usd: float
    saved_usd: float
    latency_ms: float
    guard: dict[str, Any] | None = None
    task: str | None = Field(None, description="The distilled task this request matched, if any.")
    student: str | None = Field(None, description="That task's student, which answered or was compared.")


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    slmkit: RoutingInfo


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    input: EmbeddingTexts
    model: str | None = Field(None, max_length=200)
    encoding_format: Literal["float", "base64"] | None = None  # the openai client asks for base64
    dimensions: int | None = Field(None, ge=1, description="Must equal the model's own size: these encoders "
                                   "were not trained to be truncated.")


class EmbeddingItem(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str  # base64 of little-endian float32 when asked for


class EmbeddingsUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingsResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingItem]
    model: str
    usage: EmbeddingsUsage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "slmkit"
    kind: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ModerationRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    input: Texts
    model: str | None = Field(None, max_length=200)


class ModerationResult(BaseModel):
    flagged: bool
    categories: dict[str, bool]
    category_scores: dict[str, float]


class ModerationResponse(BaseModel):
    id: str
    model: str
    results: list[ModerationResult]


class SkillRequest(BaseModel):
    """One text or a batch, plus the skill's options (labels, head, schema, passages ...)."""

    model_config = ConfigDict(extra="forbid")
    input: Texts
    labels: list[str] | None = Field(None, max_length=200)
    head: str | None = None
    passages: list[str] | None = Field(None, max_length=1000)
    top_k: int | None = Field(None, ge=1, le=1000)
    json_schema: dict[str, Any] | None = Field(None, alias="schema")
    max_words: int | None = Field(None, ge=5, le=1000)
    mode: Literal["mask", "hash", "reversible"] | None = None


class SkillResponse(BaseModel):
    skill: str
    results: list[Any]


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


# -- planner and workflows -------------------------------------------------------------------------
class PlanRequest(BaseModel):
    """A request for the planner; with ``execute`` false only the plan comes back."""

    model_config = ConfigDict(extra="forbid")
    request: str = Field(min_length=1, max_length=20_000)
    planner: Literal["small", "large", "auto"] | None = None
    execute: bool = True


class WorkflowRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    inputs: dict[str, Any] = Field(default_factory=dict)


class WorkflowInfo(BaseModel):
    name: str
    description: str
    inputs: dict[str, Any]


class WorkflowList(BaseModel):
    object: Literal["list"] = "list"
    data: list[WorkflowInfo]


class RunResponse(BaseModel):
    """A planned or workflow run: status ok | partial | failed, the answer or declared output, every
    step's trace (tier, latency, cost, error) and an account of what did not run as planned."""

    status: str
    answer: str | None = None
    output: Any = None
    latency_ms: float
    cost_usd: float
    account: list[str]
    planning: dict[str, Any]
    plan: dict[str, Any]
    steps: list[dict[str, Any]]


class PlanOnly(BaseModel):
    plan: dict[str, Any]
    planning: dict[str, Any]
