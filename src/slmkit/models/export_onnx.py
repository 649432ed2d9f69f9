"""Export a sentence-transformers checkpoint folder to ONNX (token states out).

Runs in an interpreter that has torch and transformers (``make baseline`` builds
one); slmkit's own environment never imports torch. Imports nothing from slmkit.

    python export_onnx.py MODEL_FOLDER OUT.onnx
"""

from __future__ import annotations

import sys


def main() -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    source, target = sys.argv[1], sys.argv[2]
    model = AutoModel.from_pretrained(source, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(source)
    sample = tokenizer(["a short sentence", "a second, somewhat longer sample sentence"], return_tensors="pt",
                       padding=True)
    axes = {"batch": 0, "sequence": 1}
    with torch.no_grad():
        torch.onnx.export(
            model, (sample["input_ids"], sample["attention_mask"]), target,
            input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
            dynamic_axes={name: {v: k for k, v in axes.items()}
                          for name in ("input_ids", "attention_mask", "last_hidden_state")},
            opset_version=17, dynamo=False,
        )


if __name__ == "__main__":
    main()
