"""Measure one encoder runtime in a fresh process and print one JSON line.

Run by `slmkit bench encoders` once per runtime, each in its own interpreter so
load time and peak RSS are the runtime's own. This file imports nothing from
slmkit at module level: the torch baseline runs it from a separate virtualenv
(torch stays out of slmkit's default install).

    python encoder_worker.py RUNTIME SENTENCES.json THREADS [MODEL_DIR]
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time


def load(runtime: str, threads: int, model_dir: str | None):
    if runtime == "onnx-int8":
        from slmkit.models.onnx_encoder import OnnxEncoder
        from slmkit.models.catalog import get_spec

        encoder = OnnxEncoder(get_spec("minilm-l6-int8"), threads=threads).warm_up()
        return lambda batch: encoder.encode(batch, batch_size=len(batch))
    if runtime == "torch-fp32":
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        model = SentenceTransformer(model_dir, device="cpu")
        return lambda batch: model.encode(batch, batch_size=len(batch), normalize_embeddings=True)
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
    batch_ms = []
    t_all = time.perf_counter()
    for i in range(0, len(sentences), 32):
        t = time.perf_counter()
        encode(sentences[i : i + 32])
        batch_ms.append((time.perf_counter() - t) * 1000 / len(sentences[i : i + 32]))
    elapsed = time.perf_counter() - t_all
    singles.sort()
    print(json.dumps({
        "runtime": runtime,
        "threads": threads,
        "load_s": round(load_s, 3),
        "batch1_ms_p50": round(statistics.median(singles), 3),
        "batch1_ms_p95": round(singles[int(len(singles) * 0.95) - 1], 3),
        "batch32_ms_per_item": round(statistics.median(batch_ms), 3),
        "batch32_items_per_s": round(len(sentences) / elapsed, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "n_sentences": len(sentences),
    }))


if __name__ == "__main__":
    main()
