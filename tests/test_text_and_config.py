import pytest

from slmkit.errors import InvalidInputError
from slmkit.text import as_text, texts, unbatch


def test_bytes_are_decoded_as_utf8():
    assert as_text("café".encode(), max_chars=100) == "café"


def test_non_utf8_bytes_are_refused_with_the_offending_byte():
    with pytest.raises(InvalidInputError, match="not valid UTF-8"):
        as_text(b"ok \xff\xfe", max_chars=100)


@pytest.mark.parametrize("value", ["", "   \n\t"])
def test_empty_text_is_refused(value):
    with pytest.raises(InvalidInputError, match="empty"):
        as_text(value, max_chars=100)


def test_oversized_text_is_refused_with_the_limit():
    with pytest.raises(InvalidInputError, match="1,000,000 characters; the limit is 100,000"):
        as_text("x" * 1_000_000, max_chars=100_000)


def test_non_text_is_refused():
    with pytest.raises(InvalidInputError, match="expected text"):
        as_text(42, max_chars=10)


def test_batch_errors_name_the_item():
    with pytest.raises(InvalidInputError, match="item 1"):
        texts(["fine", ""], max_chars=10)


def test_single_and_batch_shapes():
    batch, single = texts("one", max_chars=10)
    assert (batch, single) == (["one"], True)
    assert unbatch(["r"], single) == "r"
    batch, single = texts(["a", "b"], max_chars=10)
    assert not single and unbatch(["r1", "r2"], single) == ["r1", "r2"]


def test_settings_read_environment_and_yaml(tmp_path, settings_env):
    from slmkit.config import get_settings

    config = tmp_path / "config.yaml"
    config.write_text("threads: 2\nnone_threshold: 0.7\n")
    settings_env(config=str(config), threads="3")
    settings = get_settings()
    assert settings.threads == 3  # the environment beats the file
    assert settings.none_threshold == 0.7


def test_settings_refuse_unknown_keys_and_bad_values(tmp_path, settings_env):
    from pydantic import ValidationError

    from slmkit.config import get_settings

    config = tmp_path / "config.yaml"
    config.write_text("thread: 2\n")
    settings_env(config=str(config))
    with pytest.raises(ValidationError, match="thread"):
        get_settings()
    settings_env(config=str(tmp_path / "missing.yaml"))
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        get_settings()
