"""Fine-tune a sentence-transformers encoder and a linear layer on labelled texts, export it to ONNX.

Runs in an interpreter that has torch and transformers (``make baseline`` builds one); slmkit's
own environment never imports torch and serves the result with onnxruntime. Imports nothing
from slmkit.

    python finetune_onnx.py JOB.json OUT_DIR

JOB.json: {"model": folder, "texts": [...], "labels": [label index per text], "n_labels": k,
"train": [row indices fitted on], "heldout": [row indices only predicted], "epochs", "max_length",
"lr", "head_lr", "batch", "seed", "threads", "nice"}. OUT_DIR receives ``model.onnx`` (input_ids,
attention_mask -> probabilities over the k labels), ``tokenizer.json`` and ``heldout.json``
(the probabilities of the held-out rows, in their order). Progress goes to stderr, one line an epoch.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import time
from pathlib import Path


def main() -> None:
    job = json.loads(Path(sys.argv[1]).read_text())
    if job.get("nice") and hasattr(os, "nice"):
        os.nice(int(job["nice"]))  # before torch starts its threads: on Linux they inherit it, thread by thread

    import torch
    from transformers import AutoModel, AutoTokenizer

    out = Path(sys.argv[2])
    torch.set_num_threads(int(job["threads"]))
    torch.manual_seed(int(job["seed"]))
    tokenizer = AutoTokenizer.from_pretrained(job["model"])

    class Classifier(torch.nn.Module):
        """Mean-pooled token states (as the sentence-transformers checkpoint pools) -> label probabilities."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(job["model"], attn_implementation="eager")
            self.out = torch.nn.Linear(self.encoder.config.hidden_size, int(job["n_labels"]))

        def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(states.dtype)
            return self.out((states * mask).sum(1) / mask.sum(1).clamp(min=1e-9))

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.logits(input_ids, attention_mask), dim=-1)

    def batch(texts: list[str]) -> dict:
        return tokenizer(texts, padding=True, truncation=True, max_length=int(job["max_length"]), return_tensors="pt")

    texts, labels = job["texts"], torch.tensor(job["labels"])
    model = Classifier()
    optimiser = torch.optim.AdamW([{"params": model.encoder.parameters(), "lr": float(job["lr"])},
                                   {"params": model.out.parameters(), "lr": float(job["head_lr"])}],
                                  weight_decay=0.01)
    order = list(job["train"])
    rng = random.Random(int(job["seed"]))
    size = int(job["batch"])
    model.train()
    for epoch in range(int(job["epochs"])):
        started = time.perf_counter()
        rng.shuffle(order)
        total = 0.0
        for start in range(0, len(order), size):
            rows = order[start : start + size]
            encoded = batch([texts[i] for i in rows])
            loss = torch.nn.functional.cross_entropy(model.logits(encoded["input_ids"], encoded["attention_mask"]),
                                                     labels[rows])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss) * len(rows)
        print(f"epoch {epoch + 1}/{job['epochs']}: loss {total / max(len(order), 1):.4f} "
              f"({time.perf_counter() - started:.1f} s)", file=sys.stderr, flush=True)

    model.eval()
    probabilities: list[list[float]] = []
    with torch.no_grad():
        held = list(job["heldout"])
        for start in range(0, len(held), 32):
            encoded = batch([texts[i] for i in held[start : start + 32]])
            probabilities.extend(model(encoded["input_ids"], encoded["attention_mask"]).tolist())
        sample = batch(["a short sentence", "a second, somewhat longer sample sentence"])
        axes = {0: "batch", 1: "sequence"}
        torch.onnx.export(model, (sample["input_ids"], sample["attention_mask"]), str(out / "model.onnx"),
                          input_names=["input_ids", "attention_mask"], output_names=["probabilities"],
                          dynamic_axes={"input_ids": axes, "attention_mask": axes, "probabilities": {0: "batch"}},
                          opset_version=17, dynamo=False)
    shutil.copy(Path(job["model"]) / "tokenizer.json", out / "tokenizer.json")
    (out / "heldout.json").write_text(json.dumps(probabilities))


if __name__ == "__main__":
    main()
