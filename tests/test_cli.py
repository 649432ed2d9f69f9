import json

from conftest import run_cli


def _lines(result):
    assert result.returncode == 0, result.stderr.decode()
    return [json.loads(line) for line in result.stdout.decode().splitlines()]


def test_classify_zero_shot_from_arguments():
    rows = _lines(run_cli("classify", "--labels", "weather,music,restaurant", "--threshold", "0",
                          "will it rain in Paris tomorrow"))
    assert rows[0]["label"] == "weather" and rows[0]["text"] == "will it rain in Paris tomorrow"


def test_sentiment_and_langid_from_stdin_one_item_per_line():
    rows = _lines(run_cli("sentiment", stdin="a wonderful, moving film\na dull, tedious mess\n".encode()))
    assert [r["label"] for r in rows] == ["positive", "negative"]
    rows = _lines(run_cli("langid", stdin="Guten Morgen zusammen\n\nBuenos días a todos\n".encode()))
    assert [r["lang"] for r in rows] == ["de", "es"]


def test_embed_and_rerank_output():
    rows = _lines(run_cli("embed", "hello world"))
    assert len(rows[0]["vector"]) == 384 and rows[0]["model"] == "minilm-l6-int8"
    rows = _lines(run_cli("rerank", "capital of France", "Bananas are yellow", "Paris is the capital of France"))
    assert rows[0]["index"] == 1


def test_train_then_classify_with_the_head(tmp_path):
    examples = tmp_path / "tickets.csv"
    examples.write_text("text,label\n" + "\n".join([
        "I was charged twice,billing", "refund my last payment,billing", "the invoice is wrong,billing",
        "the app crashes on start,technical", "error 500 when saving,technical", "screen stays blank,technical",
    ]) + "\n")
    trained = run_cli("train", "classify", "tickets", str(examples))
    assert trained.returncode == 0, trained.stderr.decode()
    assert "version 1" in trained.stderr.decode()
    rows = _lines(run_cli("classify", "--head", "tickets", "--threshold", "0", "please refund the double charge"))
    assert rows[0]["label"] == "billing"


def test_bad_input_is_a_clear_error_without_traceback():
    for args, stdin, message in [
        (["sentiment"], b"fine\n\xff\xfe broken\n", "stdin line 2 is not valid UTF-8"),
        (["classify", "--labels", "only-one", "text"], None, "at least two labels"),
        (["classify", "--head", "nope", "text"], None, "does not exist"),
        (["embed", "x" * 120_000], None, "the limit is 100,000"),
        (["models", "verify", "gpt-9"], None, "unknown model"),
    ]:
        result = run_cli(*args, stdin=stdin)
        err = result.stderr.decode()
        assert result.returncode != 0 and message in err, (args, err)
        assert "Traceback" not in err


def test_models_list_shows_presence():
    result = run_cli("models", "list", env={"COLUMNS": "250"})
    text = result.stdout.decode()
    assert result.returncode == 0
    assert "minilm-l6-int8" in text and "qwen2.5-coder-0.5b" in text and "yes" in text


def test_pii_redaction_and_guard_from_the_command_line():
    result = run_cli("pii", "--redact", "mask", "Write to anna.berg@example.org about card 4111 1111 1111 1111")
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout)
    assert line["redacted"] == "Write to [EMAIL_1] about card [CREDIT_CARD_1]"
    guarded = run_cli("guard", "--destination", "remote", "Email anna.berg@example.org the figures",
                      env={"SLMKIT_GUARD__MODERATION": "off", "SLMKIT_GUARD__INJECTION": "off"})
    assert guarded.returncode == 0, guarded.stderr
    record = json.loads(guarded.stdout)
    assert record["text"] == "Email [EMAIL_1] the figures" and record["destination"] == "remote"
    assert "vault" not in record and b"anna.berg" not in guarded.stdout


def test_new_commands_refuse_bad_input_without_traceback(tmp_path):
    for args in (["pii", "--redact", "blur", "x"], ["extract", "--schema", str(tmp_path / "none.json"), "x"],
                 ["summarize", "--max-words", "2", "some text"], ["guard", "--destination", "mars", "x"]):
        result = run_cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert b"Traceback" not in result.stderr and b"error:" in result.stderr


def test_serve_refuses_to_leave_loopback_without_a_key_and_keys_are_managed():
    refused = run_cli("serve", "--host", "0.0.0.0", "--port", "0")
    assert refused.returncode == 2 and b"without an API key" in refused.stderr
    refused = run_cli("serve", "--host", "0.0.0.0", "--port", "0", "--no-auth")
    assert refused.returncode == 2 and b"authentication off" in refused.stderr
    created = run_cli("keys", "create", "ci-team", "--rpm", "5")
    assert created.returncode == 0 and created.stdout.decode().strip().startswith("sk-slm-")
    listed = run_cli("keys", "list")
    assert b"ci-team" in listed.stdout and b"active" in listed.stdout
    key_id = next(w for w in listed.stdout.decode().split() if w.startswith("key_"))
    assert run_cli("keys", "revoke", key_id).returncode == 0
    again = run_cli("keys", "revoke", key_id)
    assert again.returncode == 2 and b"no active key" in again.stderr


def test_route_ask_pinned_prints_answer_then_decision_and_bad_outcomes_are_named():
    result = run_cli("route", "ask", "--tier", "small", "--max-tokens", "4", "Say hi.",
                     env={"SLMKIT_ROUTER__TIERS": '{"small": {"model": "smollm2-135m"}, '
                                                  '"large": {"model": "qwen2.5-coder-0.5b"}}'})
    assert result.returncode == 0, result.stderr.decode()
    decision = json.loads(result.stderr.decode()[result.stderr.decode().index("{"):])
    assert decision["tier"] == "small" and decision["strategy"] == "pinned" and decision["saving"] > 0


def test_distill_status_and_discover_on_an_empty_data_dir(tmp_path):
    env = {"SLMKIT_DATA_DIR": str(tmp_path), "COLUMNS": "250"}
    status = run_cli("distill", "status", env=env)
    assert status.returncode == 0, status.stderr.decode()
    assert b"distillation tasks" in status.stdout and b"no tasks yet (0 captures)" in status.stderr
    discover = run_cli("distill", "discover", env=env)
    err = discover.stderr.decode()
    assert discover.returncode == 2 and "the capture store is empty" in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    unknown = run_cli("distill", "promote", "nope", env=env)
    assert unknown.returncode == 2 and b"unknown distillation task 'nope'" in unknown.stderr
    dry = run_cli("distill", "train", "nope", "--dry-run", env=env)
    assert dry.returncode == 2 and b"unknown distillation task 'nope'" in dry.stderr


def test_bench_distill_ceiling_only_scores_every_candidate_per_template(tmp_path):
    """No replay: each closed-label template's candidates on all of its requests, as a table, JSON and a plot."""
    env = {"SLMKIT_DATA_DIR": str(tmp_path), "COLUMNS": "250", "SLMKIT_DISTILL__EXTRA_ENCODERS": '["mpnet-base-v2"]',
           "SLMKIT_CACHE_DIR": str(tmp_path / "empty-cache"),  # no converted mpnet there: named as not tried
           "SLMKIT_DISTILL__CANDIDATES": '["lexical", "head"]'}
    out = tmp_path / "ceiling.json"
    result = run_cli("bench", "distill", "--ceiling-only", "--requests", "300", "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr.decode()
    report = json.loads(out.read_text())
    assert report["simulated"] and set(report["ceiling"]) == {"intent", "sentiment", "toxicity", "subject"}
    for source, c in report["ceiling"].items():
        assert set(c["candidates"]) == {"lexical", "head (minilm-l6-int8)"}, source
        assert c["candidate"] in c["candidates"] and 0.0 <= c["coverage"] <= 1.0
    assert 0.0 <= report["ceiling_templated"] <= 1.0 and out.with_suffix(".png").stat().st_size > 10_000
    assert b"templated ceiling" in result.stdout and b"lexical" in result.stdout
    assert report["encoders_not_installed"] == ["mpnet-base-v2"] and b"not tried, not installed" in result.stderr
    wrong = run_cli("bench", "distill", "--ceiling-only", "--teacher", "local", env=env)
    assert wrong.returncode == 2 and b"--ceiling-only reads the simulated gold teacher" in wrong.stderr


def test_reports_record_the_command_that_wrote_them(tmp_path, monkeypatch):
    import json

    from slmkit.reports import write_json

    monkeypatch.setattr("sys.argv", ["/venv/bin/slmkit", "bench", "generate", "--concurrency", "1,4", "--out", "a b.json"])
    report = json.loads(write_json(tmp_path / "r.json", {"x": 1}).read_text())
    assert report["command"] == "slmkit bench generate --concurrency 1,4 --out 'a b.json'" and report["x"] == 1
