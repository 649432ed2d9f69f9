"""``extract`` and ``summarize`` on the real small generator (qwen2.5-coder-0.5b), kept to a few short calls.

Only the retry test uses a fake generator: garbage has to be injected to prove the
bound on attempts and the error that follows.
"""

from __future__ import annotations

import pytest

from slmkit.errors import InvalidInputError, SlmkitError
from slmkit.evals.extraction import extraction_cases, field_matches
from slmkit.models.llama import Completion
from slmkit.skills.extract import Extract, Extraction, ExtractionError
from slmkit.skills.summarize import Summarize, Summary, fit

MODEL = "qwen2.5-coder-0.5b"

CONTACT = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "the person's full name"},
        "email": {"type": "string"},
        "city": {"type": "string"},
        "age": {"type": "integer"},
    },
    "required": ["name", "email"],
}

PARAGRAPH = (
    "The city council of Riverton voted on Tuesday to build a new public library on the site of the old "
    "railway depot. The project will cost 12 million dollars, paid partly by a state grant and partly by a "
    "local bond approved by voters last year. Construction is expected to start in March and finish within "
    "two years. Supporters say the library will include a children's wing, a maker space and free meeting "
    "rooms, while critics argue the money would be better spent repairing roads. The mayor said the depot "
    "building, empty since 1998, will keep its brick facade."
)


@pytest.fixture(scope="module")
def contact() -> Extract:
    return Extract(CONTACT, generator=MODEL, max_tokens=64).warm_up()


# -- extract on the real generator: two calls ----------------------------------------------------
def test_extracts_the_stated_facts_as_schema_valid_json(contact):
    result = contact("Spoke with Maria Lopez today. She is 34 and lives in Lyon. Email: maria.lopez@acme.io.")
    assert isinstance(result, Extraction)
    assert result.model == MODEL and result.attempts >= 1 and result.completion_tokens > 0
    assert contact.validator.is_valid(result.data)
    assert result.data["name"] == "Maria Lopez"
    assert result.data["email"] == "maria.lopez@acme.io"
    assert result.data.get("city") == "Lyon"
    assert result.data.get("age") == 34


def test_numbers_and_iso_dates_from_an_order_note():
    order = extraction_cases(2)[1]  # "... billed 4,357.07 USD ... Expected delivery: 19 May 2026 ..."
    result = Extract(order.schema, generator=MODEL, max_tokens=96)(order.text)
    assert Extract(order.schema).validator.is_valid(result.data)
    for name in ("order_id", "amount", "date"):
        assert field_matches(order.expected[name], result.data.get(name)), (name, result.data)


# -- summarize on the real generator: one call ---------------------------------------------------
def test_summary_keeps_to_the_word_budget():
    result = Summarize(max_words=25, generator=MODEL)(PARAGRAPH)
    assert isinstance(result, Summary)
    assert 3 <= result.words <= 25 and result.words == len(result.text.split())
    assert result.text[-1] in ".!?…"
    assert "library" in result.text.lower()
    assert result.completion_tokens <= 2 * 25 + 16


# -- refusals before any generation --------------------------------------------------------------
@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "object", "properties": {"a": {"type": "strin"}}}, "invalid JSON schema at properties/a/type"),
        ({"type": "object", "required": "name"}, "invalid JSON schema at required"),
        ({"type": "array", "items": {"type": "string"}}, '"type": "object"'),
        ({"type": "object"}, "at least one property"),
        ("not a schema", "must be a JSON object"),
        ({"type": "object", "properties": {"a": {"not": {"type": "string"}}}}, "cannot turn this schema"),
        ({"type": "object", "properties": {"a": {"$ref": "https://example.com/s.json"}}}, "cannot turn this schema"),
    ],
)
def test_bad_schemas_are_refused_clearly(schema, message):
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(")):
        Extract(schema)


def test_a_schema_whose_grammar_would_crash_llama_cpp_is_refused(contact):
    # llama.cpp's converter passes \d through, its C parser rejects it, and generation would segfault.
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": r"^[A-Z]{2}-\d{4}$"}}}
    with pytest.raises(InvalidInputError, match="rejects the grammar"):
        Extract(schema, generator=MODEL).warm_up()


def test_bad_arguments_and_input_are_refused(contact):
    with pytest.raises(InvalidInputError, match="retries"):
        Extract(CONTACT, retries=9)
    with pytest.raises(InvalidInputError, match="empty"):
        contact("   ")
    with pytest.raises(InvalidInputError, match="exceeds the context"):
        contact("word " * 3000)
    with pytest.raises(InvalidInputError, match="item 0: .*exceeds the context"):
        contact(["word " * 3000])


@pytest.mark.parametrize("max_words", [0, 4, 401, 60.5, True])
def test_bad_word_budgets_are_refused(max_words):
    with pytest.raises(InvalidInputError, match="max_words"):
        Summarize(max_words=max_words)


# -- the retry bound, with a generator that only ever returns garbage -----------------------------
class _Garbage:
    def __init__(self, texts: list[str]) -> None:
        self.texts, self.calls = texts, []

    def chat(self, messages, **kwargs) -> Completion:
        self.calls.append((messages, kwargs))
        return Completion(self.texts[min(len(self.calls), len(self.texts)) - 1], 10, 5, "stop", "fake")


def _with(generator: _Garbage, retries: int) -> Extract:
    skill = Extract(CONTACT, retries=retries)
    skill._generator = generator  # skip warm_up: no model behind the fake
    return skill


def test_garbage_is_retried_a_bounded_number_of_times_then_a_clear_error():
    fake = _Garbage(["not json at all"])
    with pytest.raises(ExtractionError, match=r"after 3 attempt\(s\).*not JSON") as caught:
        _with(fake, retries=2)("Maria Lopez, maria@x.io")
    assert isinstance(caught.value, SlmkitError)
    assert len(fake.calls) == 3
    # Each retry samples differently and tells the model what was wrong.
    assert [kw["temperature"] for _, kw in fake.calls] == [0.0, 0.4, 0.7]
    assert len({kw["seed"] for _, kw in fake.calls}) == 3
    assert "not JSON" in fake.calls[1][0][-1]["content"]


def test_a_retry_that_fixes_the_answer_is_counted():
    fake = _Garbage(['{"name": "Maria", "email": null}', '{"name": "Maria", "email": "m@x.io", "age": null}'])
    result = _with(fake, retries=1)("Maria, m@x.io")
    assert result.attempts == 2 and result.prompt_tokens == 20 and result.completion_tokens == 10
    assert result.data == {"name": "Maria", "email": "m@x.io"}  # a null for an optional field means absent
    with pytest.raises(ExtractionError, match="field email: None is not of type 'string'"):
        _with(_Garbage(['{"name": "Maria", "email": null}']), retries=0)("Maria")


def test_fit_trims_at_the_last_sentence_end_inside_the_budget():
    assert fit("One two three. Four five six seven.", 5) == ("One two three.", True)
    assert fit("One two three four five six", 4) == ("One two three four…", True)
    assert fit("Short and done.", 10) == ("Short and done.", False)
    assert fit("Whole sentence. And a frag", 10, cut_off=True) == ("Whole sentence.", True)


def test_cases_are_fixed_by_the_seed_and_cover_three_schemas():
    cases = extraction_cases(100)
    assert cases == extraction_cases(100) and cases != extraction_cases(100, seed=14)
    assert {c.kind for c in cases} == {"contact", "order", "meeting"}
    assert any(None in c.expected.values() for c in cases)
    assert all(Extract(c.schema).validator.is_valid({k: v for k, v in c.expected.items() if v is not None})
               for c in cases)
    assert field_matches(4357.07, 4357.070000001) and field_matches(" Maria  LOPEZ", "maria lopez")
    assert not field_matches(32, "32") and not field_matches(None, "") and field_matches(None, None)


@pytest.mark.slow
def test_extraction_eval_on_a_sample():
    from slmkit.evals.extraction import eval_extract

    report = eval_extract(12, generator=MODEL)
    assert report.schema_valid_rate == 1.0
    assert report.field_accuracy > 0.7
