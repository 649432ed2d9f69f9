"""Planner and workflows: the registry's schemas, plan checks and repair, the executor under injected
faults (a tool that raises, hangs, or breaks its output schema), concurrency, and a YAML workflow run
end to end on the real specialists from Python, the CLI and the gateway."""

from __future__ import annotations

import json
import threading
import time

import pytest
from conftest import run_cli

from slmkit.errors import InvalidInputError
from slmkit.plan.executor import Executor
from slmkit.plan.graph import Plan, Step, parse, repair, resolve, validate
from slmkit.plan.tools import ToolOutputError, ToolRegistry, make_tool


# -- user tools, some of them misbehaving on purpose ------------------------------------------------
def user_registry() -> ToolRegistry:
    reg = ToolRegistry()

    @reg.tool
    def word_count(text: str) -> int:
        """Count the words in a text."""
        return len(text.split())

    @reg.tool
    def shout(text: str, times: int = 1) -> str:
        """Upper-case a text."""
        return " ".join([text.upper()] * times)

    @reg.tool(timeout_s=5)
    def slow(label: str, seconds: float = 1.0) -> str:
        """Sleep, then return the label."""
        time.sleep(seconds)
        return label

    @reg.tool
    def explode(text: str) -> str:
        """Always raises."""
        raise RuntimeError("the disk is on fire")

    @reg.tool(timeout_s=0.5)
    def hang(text: str) -> str:
        """Never answers in time."""
        time.sleep(30)
        return text

    @reg.tool
    def liar(text: str) -> int:
        """Declares an int, returns a word."""
        return "not a number"  # type: ignore[return-value]

    return reg


def test_a_decorated_function_becomes_a_tool_with_json_schemas():
    reg = user_registry()
    tool = reg.get("shout")
    assert tool.input_schema() == {"type": "object", "additionalProperties": False, "required": ["text"],
                                   "properties": {"text": {"type": "string"},
                                                  "times": {"type": "integer", "default": 1}}}
    assert tool.output_schema() == {"type": "string"}
    assert tool.signature() == "shout(text: str, times?: int)"
    assert tool.description == "Upper-case a text."
    assert tool(text="hi", times=2) == "HI HI"
    with pytest.raises(InvalidInputError, match="times"):
        tool.check_args({"text": "hi", "times": "many"})
    with pytest.raises(InvalidInputError, match="volume: Extra inputs"):
        tool.check_args({"text": "hi", "volume": 11})
    with pytest.raises(ToolOutputError, match="breaks its schema"):
        reg.get("liar").check_output("not a number")


def _typed_echo(text: str) -> str:
    return text


def test_tools_need_annotations_and_unique_names():
    def untyped(text):  # noqa: ANN001, ANN202
        return text

    with pytest.raises(InvalidInputError, match="annotation"):
        make_tool(untyped)
    reg = user_registry()
    with pytest.raises(InvalidInputError, match="already registered"):
        reg.tool(_typed_echo, name="shout")
    with pytest.raises(InvalidInputError, match="unknown tool 'nope'"):
        reg.get("nope")


def test_builtin_registry_covers_the_crew_and_the_tiers():
    from slmkit.plan.builtin import builtin_tools, safe_eval

    names = set(builtin_tools().names(offered=True))
    assert {"sentiment", "classify", "entities", "pii", "redact", "moderate", "langid", "summarize", "extract",
            "rerank", "search", "ask_docs", "generate", "calculate", "enqueue"} <= names
    assert "compose" not in names  # the executor adds it; the planner never sees it
    assert safe_eval("15% of 240") == 36.0 and safe_eval("(1250 - 300) / 4") == 237.5
    for bad in ("__import__('os')", "open('x')", "2 ** 1000", "1/0"):
        with pytest.raises(InvalidInputError):
            safe_eval(bad)


# -- plans: checks, repair, references ----------------------------------------------------------------
def test_validate_names_every_problem():
    reg = user_registry()
    plan, problems = parse({"steps": [
        {"id": "a", "tool": "word_count", "args": {"text": "${c}"}, "depends_on": ["c"]},
        {"id": "b", "tool": "teleport", "args": {}, "depends_on": []},
        {"id": "c", "tool": "shout", "args": {"text": "${a}", "times": "loud"}, "depends_on": ["a", "zz"]},
        {"id": "d", "tool": "word_count", "args": {"text": "${ghost}"}, "depends_on": []},
    ]})
    assert plan is not None and not problems
    found = " | ".join(str(p) for p in validate(plan, reg))
    assert "unknown tool 'teleport'" in found
    assert "times" in found  # wrong type
    assert "depends on unknown step 'zz'" in found
    assert "${ghost}, which is not a step" in found
    assert parse({"steps": []})[1] and parse("not a plan")[1]


def test_a_cycle_is_found_and_repair_breaks_back_edges_and_mends_near_misses():
    reg = user_registry()
    plan, _ = parse({"steps": [
        {"id": "a", "tool": "word_count", "args": {"text": "${b}"}, "depends_on": ["b"]},
        {"id": "b", "tool": "shout", "args": {"text": "${a}"}, "depends_on": ["a"]},
    ]})
    assert "cycle" in " ".join(str(p) for p in validate(plan, reg))
    mended = repair(plan, reg)
    assert mended.step("a").depends_on == [] and mended.step("b").depends_on == ["a"]

    plan, _ = parse({"steps": [
        {"id": "s1", "tool": "word_cnt", "args": {"text": "one two"}, "depends_on": []},
        {"id": "s1", "tool": "shout", "args": {"text": "${s1.text}", "pitch": 3}, "depends_on": []},
    ]})
    mended = repair(plan, reg)
    assert validate(mended, reg) == []
    assert mended.tools() == ["word_count", "shout"]
    second = mended.steps[1]
    assert second.id != "s1" and "pitch" not in second.args
    assert second.args["text"] == "${s1}"  # word_count outputs a bare int: the field read as the whole output
    assert second.depends_on == ["s1"]  # the reference implies the dependency
    assert any("word_cnt" in r for r in mended.repairs)


def test_references_resolve_whole_values_fields_and_text():
    outputs = {"input": {"text": "hello"}, "s1": {"label": "billing", "score": 0.9}, "s2": {"text": "a summary"},
               "s3": [1, 2]}
    assert resolve("${s1}", outputs) == {"label": "billing", "score": 0.9}
    assert resolve("${s1.label}", outputs) == "billing"
    assert resolve("File under ${s1.label}: ${s2}", outputs) == "File under billing: a summary"
    assert resolve({"x": ["${input.text}", "${s3.1}"]}, outputs) == {"x": ["hello", 2]}
    with pytest.raises(LookupError, match="has no 'nope'"):
        resolve("${s1.nope}", outputs)


# -- the executor: faults and concurrency -------------------------------------------------------------
def test_failures_skip_only_their_dependants_and_the_run_returns_partial_results():
    reg = user_registry()
    plan = Plan([
        Step("boom", "explode", {"text": "x"}),
        Step("after_boom", "shout", {"text": "${boom}"}, ["boom"]),
        Step("stuck", "hang", {"text": "x"}),
        Step("bad", "liar", {"text": "x"}),
        Step("fine", "word_count", {"text": "three short words"}),
        Step("chain", "shout", {"text": "${fine} words"}, ["fine"]),
    ], request="a run with faults")
    events: list[tuple[str, str]] = []
    started = time.perf_counter()
    run = Executor(reg, backoff_s=0.01, on_event=lambda r: events.append((r.id, r.status))).run(plan)
    elapsed = time.perf_counter() - started
    by = {s.id: s for s in run.steps}
    assert run.status == "partial"
    assert by["boom"].status == "failed" and "the disk is on fire" in by["boom"].error
    assert by["after_boom"].status == "skipped" and "boom failed" in by["after_boom"].error
    assert by["stuck"].status == "failed" and "no answer within 0.5 s" in by["stuck"].error
    assert by["bad"].status == "failed" and "breaks its schema" in by["bad"].error
    assert by["fine"].output == 3 and by["chain"].output == "3 WORDS"
    assert elapsed < 10  # the hung tool was abandoned at its timeout, not waited for
    account = "\n".join(run.account())
    for name in ("boom", "after_boom", "stuck", "bad"):
        assert name in account
    assert ("after_boom", "skipped") in events and ("fine", "ok") in events


def test_two_independent_slow_steps_run_at_the_same_time():
    reg = user_registry()
    plan = Plan([Step("left", "slow", {"label": "L", "seconds": 1.0}),
                 Step("right", "slow", {"label": "R", "seconds": 1.0}),
                 Step("join", "shout", {"text": "${left}${right}"}, ["left", "right"])])
    started = time.perf_counter()
    run = Executor(reg).run(plan)
    elapsed = time.perf_counter() - started
    left, right = run.step("left"), run.step("right")
    assert run.status == "ok" and run.step("join").output == "LR"
    # both started before either could have finished: they overlapped
    assert abs(left.started_ms - right.started_ms) < 500
    assert elapsed < 1.8, f"two 1 s steps took {elapsed:.2f} s: they ran one after the other"


def test_retries_then_fallback_recover_a_flaky_step():
    reg = user_registry()
    calls = {"n": 0}
    lock = threading.Lock()

    @reg.tool(retries=1)
    def flaky(text: str) -> str:
        """Fails the first time."""
        with lock:
            calls["n"] += 1
            if calls["n"] == 1:
                raise ConnectionError("reset by peer")
        return text

    run = Executor(reg, backoff_s=0.01).run(Plan([
        Step("f", "flaky", {"text": "ok"}),
        Step("g", "explode", {"text": "x"}, fallback={"tool": "shout", "args": {}}),
    ]))
    assert run.step("f").status == "ok" and run.step("f").attempts == 2
    g = run.step("g")
    assert g.status == "ok" and g.output == "X" and g.fallback.startswith("shout")
    assert "answered by its fallback" in " ".join(run.account())


def test_arguments_wrong_at_run_time_fail_without_retrying():
    reg = user_registry()
    run = Executor(reg).run(Plan([Step("a", "shout", {"text": "x"}),
                                  Step("b", "word_count", {"text": "${a.missing}"}, ["a"])]))
    assert run.step("b").status == "failed" and "has no 'missing'" in run.step("b").error


# -- workflows on the real specialists ----------------------------------------------------------------
BILLING = ("Hello, I'm Hannah Becker (hannah.becker@example.org, +49 30 1234567). You charged my credit card "
           "twice for the March invoice, please refund the second payment.")


@pytest.fixture(scope="module")
def orchestrator():
    from slmkit.plan.runner import Orchestrator

    return Orchestrator()


def test_triage_workflow_files_a_redacted_message_in_the_right_queue(orchestrator):
    from slmkit.config import get_settings
    from slmkit.plan.queues import Queues

    run = orchestrator.run_workflow("triage", {"text": BILLING})
    assert run.status == "ok", run.account()
    assert run.output["queue"] == "billing"
    filed = Queues(get_settings().data_dir / "queues.sqlite3").items("billing")[-1]
    assert filed.id == run.output["id"]
    for value in ("Hannah", "Becker", "hannah.becker@example.org", "1234567"):
        assert value not in filed.text
    assert filed.text.startswith("[negative]")
    # department and mood both waited only for the redaction: they ran in the same wave
    assert run.plan.order() == [["clean"], ["department", "mood"], ["file"]]


def test_workflow_inputs_and_files_are_checked_with_clear_errors(orchestrator, tmp_path):
    from slmkit.plan.workflow import Workflow, load_workflow

    with pytest.raises(InvalidInputError, match="needs input 'text'"):
        orchestrator.run_workflow("triage", {})
    with pytest.raises(InvalidInputError, match="no input"):
        orchestrator.run_workflow("triage", {"text": "hi", "colour": "red"})
    with pytest.raises(InvalidInputError, match="no workflow named 'nope'"):
        load_workflow("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nsteps:\n  - {id: a, tool: shout_loudly, args: {text: '${input.txt}'}}\n")
    with pytest.raises(InvalidInputError, match="unknown tool 'shout_loudly'"):
        orchestrator.run_workflow(Workflow.from_yaml(bad), {})
    with pytest.raises(InvalidInputError, match="not valid YAML"):
        Workflow.from_yaml("steps: [unclosed\n")


def test_workflow_from_the_cli():
    result = run_cli("workflow", "run", "triage", "--input", f"text={BILLING}", "--json")
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    run = json.loads(result.stdout)
    assert run["status"] == "ok" and run["output"]["queue"] == "billing"
    assert [s["tool"] for s in run["steps"]] == ["redact", "classify", "sentiment", "enqueue"]
    bad = run_cli("workflow", "run", "triage", "--input", "colour=red")
    assert bad.returncode == 2 and b"no input" in bad.stderr


# -- the planner on the real small generator -----------------------------------------------------------
def test_small_planner_writes_a_valid_plan_and_the_run_composes_an_answer(orchestrator):
    request = "What is 18 * 7.5, and which language is this sentence in: 'Dove si trova la stazione?'"
    plan, planning = orchestrator.plan(request, "small")
    from slmkit.plan.graph import validate as check

    assert check(plan, orchestrator.registry) == []
    assert planning.planner in ("small", "large", "fallback") and planning.attempts
    run = orchestrator.execute(plan, planning)
    assert run.steps[-1].id == "answer" and run.steps[-1].tool == "compose"
    assert run.answer and run.status in ("ok", "partial")
    for step in run.steps:
        assert step.tier and step.latency_ms > 0 or step.status != "ok"
    assert run.planning["planner"] == planning.planner


def test_planner_falls_back_to_a_one_step_plan_when_its_tier_returns_garbage(tmp_path):
    from upstream import Upstream

    from slmkit.config import Settings
    from slmkit.plan.runner import Orchestrator
    from slmkit.router.router import Router
    from slmkit.config.router import RouterSettings, TierConfig

    up = Upstream("garbage")
    try:
        tiers = {"small": TierConfig(kind="remote", model="m", base_url=up.url, timeout_s=2, retries=0),
                 "large": TierConfig(kind="remote", model="m", base_url=up.url, timeout_s=2, retries=0)}
        settings = Settings(data_dir=tmp_path, router=RouterSettings(tiers=tiers, strategy="small",
                                                                     fallback_tier="small"))
        orc = Orchestrator(router=Router(settings.router), settings=settings)
        plan, planning = orc.plan("Summarise this and tell me its language: 'Bonjour à tous.'", "auto")
        assert planning.planner == "fallback" and plan.tools() == ["generate"]
        assert all(a.error for a in planning.attempts)
        assert "no valid plan" in planning.reason
    finally:
        up.close()


def test_plan_cli_shows_a_tree_without_running():
    result = run_cli("plan", "Is this review positive: 'Lovely staff, awful food.' and what language is it?",
                     "--planner", "small", "--dry-run")
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert b"plan" in result.stderr and b"s1" in result.stderr


def test_auto_sends_requests_with_many_asks_to_the_large_planner():
    from slmkit.plan.planner import count_tasks

    assert count_tasks("What is 2 + 2?") == 1
    assert count_tasks("Redact this, classify it, then summarise it and translate it into French.") == 4
    assert count_tasks("Is it positive? Which language is it?") == 2


# -- asks first: per-ask tool shortlists (issue 20) -------------------------------------------------------
def test_example_asks_are_kept_with_a_tool_and_checked():
    reg = ToolRegistry()

    @reg.tool(examples=["how tall is the tower", " height of a building "])
    def height(name: str) -> float:
        """Look up a building's height in metres."""
        return 1.0

    assert reg.get("height").examples == ("how tall is the tower", "height of a building")
    with pytest.raises(InvalidInputError, match="examples"):
        make_tool(_typed_echo, name="x", examples="one string, not a list")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="examples"):
        make_tool(_typed_echo, name="y", examples=["fine", "  "])


def test_steps_beyond_the_asks_are_dropped_unless_a_kept_step_uses_them():
    from slmkit.plan.planner import _read_steps

    reg = user_registry()
    text = json.dumps({"steps": [{"tool": "word_count", "args": {"text": "a b"}},
                                 {"tool": "shout", "args": {"text": "${s3}"}},
                                 {"tool": "shout", "args": {"text": "unused"}}]})
    plan, problems = _read_steps(text, "req", "small", ["count the words", "shout it"])
    # s3 serves no ask and s2 cannot wait for a later step: s3 goes, and validation sends s2 back to the model
    assert problems == [] and [s.id for s in plan.steps] == ["s1", "s2"]
    assert any("${s3}" in str(p) for p in validate(plan, reg))
    text = json.dumps({"steps": [{"tool": "word_count", "args": {"text": "a b"}},
                                 {"tool": "shout", "args": {"text": "n=${s1}"}},
                                 {"tool": "shout", "args": {"text": "extra"}},
                                 {"tool": "explode", "args": {"text": "nobody asked"}}]})
    plan, problems = _read_steps(text, "req", "small", ["count the words", "shout the count"])
    assert problems == [] and validate(plan, reg) == []
    assert [(s.id, s.ask) for s in plan.steps] == [("s1", "count the words"), ("s2", "shout the count")]
    assert plan.step("s2").depends_on == ["s1"]
    assert plan.repairs == ["dropped s3 (shout): it serves no ask", "dropped s4 (explode): it serves no ask"]


def test_steps_that_only_copy_the_quoted_passage_are_written_by_rule():
    from slmkit.plan.builtin import builtin_tools
    from slmkit.plan.planner import Planner, _read_steps

    planner = Planner(builtin_tools())
    request = "Is this review positive, summarise it in 10 words, then mask it and file it: 'Anna Berg hated the soup.'"
    asks = ["is the review positive", "summarise it in 10 words", "mask the personal data", "file it under billing"]
    allowed = [["sentiment"], ["summarize"], ["redact"], ["enqueue"]]
    fixed = planner.fill_by_rule(request, asks, allowed)
    # sentiment reads the passage; "10 words" may set summarize's max_words; redact comes after a step that
    # writes text (it may mean the summary); enqueue needs a queue name: those three are the generator's
    assert fixed == [("sentiment", {"text": "Anna Berg hated the soup."}), None, None, None]
    assert planner.fill_by_rule("Two passages: 'one' and 'two'", asks[:1], allowed[:1]) == [None]
    assert planner.fill_by_rule("Is it positive?", asks[:1], [["sentiment", "moderate"]]) == [None]
    prompt = planner.steps_prompt(asks, allowed, fixed)
    assert "s1 = sentiment, already written -> {label, score}" in prompt and prompt.endswith("asks 2, 3 and 4 only.")
    assert "sentiment(" not in prompt  # only the tools the generator may still choose are described
    reply = json.dumps({"steps": [{"tool": "summarize", "args": {"text": "x", "max_words": 10}},
                                  {"tool": "redact", "args": {"text": "${s2.text}"}},
                                  {"tool": "enqueue", "args": {"queue": "billing", "text": "${s3.text}"}}]})
    plan, problems = _read_steps(reply, request, "small", asks, fixed)
    assert problems == [] and validate(plan, planner.registry) == []
    assert [(s.id, s.tool, s.ask) for s in plan.steps] == [(f"s{k}", t[0], a) for k, (t, a) in
                                                           enumerate(zip(allowed, asks, strict=True), 1)]
    assert plan.step("s4").depends_on == ["s3"] and plan.step("s1").args == {"text": "Anna Berg hated the soup."}
    # a reply with fewer steps than open asks is sent back, not misaligned with the asks
    short = json.dumps({"steps": [{"tool": "summarize", "args": {"text": "x"}}]})
    assert _read_steps(short, request, "small", asks, fixed)[0] is None
    # every step by rule: no reply is needed at all
    plan, problems = _read_steps('{"steps": []}', request, "small", asks[:1], fixed[:1])
    assert problems == [] and plan.tools() == ["sentiment"]


def test_a_request_of_clear_asks_about_one_quoted_text_is_planned_without_the_generator(orchestrator):
    planner = orchestrator.planner
    saved = planner.settings
    planner.settings = saved.model_copy(update={"tool_choice": "auto"})
    try:
        request = "Which language is this written in, and is the review positive or negative? 'La soupe était froide.'"
        plan, planning = planner.plan(request, "small")
    finally:
        planner.settings = saved
    assert planning.asks_by == "rule" and planning.args_by == ["rule", "rule"] and planning.generator_calls == 0
    assert [(s.tool, s.args) for s in plan.steps] == [("langid", {"text": "La soupe était froide."}),
                                                       ("sentiment", {"text": "La soupe était froide."})]
    assert planning.planner == "small" and not planning.attempts[0].error


@pytest.fixture
def currency_tool():
    """A user tool registered the documented way, removed again so other tests' planners do not see it."""
    import slmkit.plan
    from slmkit.plan.tools import user_tools

    @slmkit.plan.tool(examples=["how many dollars is 40 euros", "convert 300 yen into pounds",
                                "what is this price in Swiss francs"])
    def convert_currency(amount: float, source: str, target: str) -> float:
        """Convert an amount of money from one currency into another at today's rate."""
        return amount * 1.1

    yield "convert_currency"
    user_tools().remove("convert_currency")


def test_a_user_tool_with_example_asks_is_shortlisted_by_meaning(currency_tool):
    from slmkit.models.llama import schema_grammar
    from slmkit.plan.runner import Orchestrator

    planner = Orchestrator().planner
    planner.settings = planner.settings.model_copy(update={"tool_choice": "auto"})
    asks = ["turn 250 euros into US dollars", "which language is the sentence", "is the review positive"]
    shortlists = planner.shortlist(asks)
    assert [sl.names[0] for sl in shortlists] == [currency_tool, "langid", "sentiment"]
    assert all(len(sl.candidates) == planner.settings.shortlist_k for sl in shortlists)
    allowed = [planner.allowed(sl) for sl in shortlists]
    assert allowed[0] == [currency_tool]  # clear enough that the generator does not choose
    schema = planner.steps_schema([["sentiment", "moderate"], [currency_tool]])
    items = schema["properties"]["steps"]["prefixItems"]
    assert len(items) == 2 and [v["properties"]["tool"]["const"] for v in items[0]["anyOf"]] == ["sentiment",
                                                                                                  "moderate"]
    grammar = schema_grammar(schema)  # one step per ask, only the shortlisted tools: a small grammar
    assert "convert_currency" in grammar and "langid" not in grammar and "generate" not in grammar
    prompt = planner.steps_prompt(["is it positive", "in dollars"], [["sentiment", "moderate"], [currency_tool]])
    assert "convert_currency(amount: float, source: str, target: str)" in prompt and "langid" not in prompt


@pytest.mark.slow
def test_the_small_planner_uses_a_user_tool_it_shortlisted(currency_tool):
    from slmkit.plan.runner import Orchestrator

    orc = Orchestrator()
    plan, planning = orc.plan("How many US dollars are 250 euros, and which language is this: 'Guten Morgen'?",
                              "small")
    assert planning.planner == "small" and planning.asks and planning.shortlists
    assert currency_tool in plan.tools() and all(s.ask for s in plan.steps)
    step = next(s for s in plan.steps if s.tool == currency_tool)
    assert step.args["amount"] == 250
