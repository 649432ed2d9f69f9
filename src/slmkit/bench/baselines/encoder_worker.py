"""Measure one encoder runtime in a fresh process and print one JSON line.

Run by `slmkit bench encoders` once per runtime, each in its own interpreter so
load time and peak RSS are the runtime's own. This file imports nothing from
slmkit at module level: the torch baseline runs it from a separate virtualenv
(torch stays out of slmkit's default install).

    python encoder_worker.py RUNTIME SENTENCES.json THREADS [MODEL_DIR]

It also saves the corpus vectors beside SENTENCES.json, so the caller can compare runtimes' outputs.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time


def load(runtime: str, threads: int, model_dir: str | None):
    if runtime in ("onnx-int8", "onnx-int8-weights"):
        from slmkit.models.catalog import get_spec
        from slmkit.models.onnx_encoder import OnnxEncoder

        name = {"onnx-int8": "minilm-l6-int8", "onnx-int8-weights": "minilm-l6-int8-weights"}[runtime]
        encoder = OnnxEncoder(get_spec(name), threads=threads).warm_up()
        return lambda batch, size=None: encoder.encode(batch, batch_size=size or len(batch))
    if runtime == "torch-fp32":
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        model = SentenceTransformer(model_dir, device="cpu")
        return lambda batch, size=None: model.encode(batch, batch_size=size or len(batch), normalize_embeddings=True)
    raise SystemExit(f"unknown runtime {runtime}")


def main() -> None:
    runtime, sentences_path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    model_dir = sys.argv[4] if len(sys.argv) > 4 else None
    sentences = json.load(open(sentences_path, encoding="utf-8"))
    start = time.perf_counter()
    encode = load(runtime, threads, model_dir)
    encode(sentences[:1])  # first call: graph/kernels warm
    load_s = time.perf_counter() - start

    singles = []
    for text in sentences[:100]:
        t = time.perf_counter()
        encode([text])
        singles.append((time.perf_counter() - t) * 1000)
    # Fixed chunks of 32 as they come (padding included) ...
    batch_ms = []
    for i in range(0, len(sentences), 32):
        t = time.perf_counter()
        encode(sentences[i : i + 32])
        batch_ms.append((time.perf_counter() - t) * 1000 / len(sentences[i : i + 32]))
    # ... and the whole corpus in one call with batch_size=32, where each runtime sorts by length
    # (sentence-transformers does, and so does slmkit): how a user embeds a collection.
    t_all, cpu_all = time.perf_counter(), time.process_time()
    vectors = encode(sentences, 32)
    elapsed, cpu = time.perf_counter() - t_all, time.process_time() - cpu_all
    import numpy as np

    np.save(f"{sentences_path}.{runtime}.npy", np.asarray(vectors, dtype=np.float32))
    singles.sort()
    print(json.dumps({
        "runtime": runtime,
        "threads": threads,
        "load_s": round(load_s, 3),
        "batch1_ms_p50": round(statistics.median(singles), 3),
        "batch1_ms_p95": round(singles[int(len(singles) * 0.95) - 1], 3),
        "batch32_ms_per_item": round(statistics.median(batch_ms), 3),
        "batch32_items_per_s": round(len(sentences) / elapsed, 1),
        "batch32_cores_used": round(cpu / elapsed, 2),  # CPU time / wall time: checks the thread cap held
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "n_sentences": len(sentences),
    }))


if __name__ == "__main__":
    main()
