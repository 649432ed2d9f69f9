"""Deriving a faster encoder file from a packaged or exported one, once, into the cache.

Both encoders get the same treatment: fold constants (the packaged MiniLM stores
int8 weights and casts them back to float on every run) and fuse LayerNorm/GELU
with onnxruntime's transformer optimiser. MiniLM is then re-quantised per channel
for dynamic int8 compute (MatMulInteger): ~2.3x torch fp32 throughput at cosine
0.992 to it (`slmkit bench encoders`). MPNet stays fp32: the same quantisation
cost it cosine 0.90 to its fp32 vectors (0.99 with its FFN outputs kept in fp32,
for only 1.3x speed), so exactness wins for the "stronger" encoder.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from slmkit.models.catalog import ModelSpec
from slmkit.models.files import checksum_file, sha256_file


def optimise_encoder(spec: ModelSpec, source: Path, target: Path, *, quantise: bool) -> Path:
    # onnx and onnxruntime's optimiser load in about a second: only a first-use build needs them.
    import onnxruntime as ort
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    # The quantiser advises pre-processing through the root logger; we fold and fuse ourselves.
    logging.getLogger().setLevel(logging.ERROR)
    assert spec.heads and spec.dim, f"{spec.name} needs heads and dim to be fused"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        folded = Path(tmp) / "folded.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(folded)
        options.log_severity_level = 3
        ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
        result = Path(tmp) / "result.onnx"
        optimize_model(str(folded), model_type="bert", num_heads=spec.heads, hidden_size=spec.dim,
                       opt_level=0).save_model_to_file(str(result if not quantise else Path(tmp) / "fused.onnx"))
        if quantise:
            # Fused ops live in onnxruntime's own domain, where shape inference gives no types: say fp32.
            quantize_dynamic(str(Path(tmp) / "fused.onnx"), str(result), weight_type=QuantType.QInt8,
                             per_channel=True, extra_options={"DefaultTensorType": TensorProto.FLOAT})
        checksum_file(target).write_text(sha256_file(result) + "\n")
        os.replace(result, target)
    return target
