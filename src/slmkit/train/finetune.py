"""A text classifier fine-tuned end to end (encoder and linear layer), served with onnxruntime.

Training runs ``finetune_onnx.py`` in an interpreter with torch and transformers (``make baseline``
builds ``.venv-baseline``), as a subprocess: slmkit's environment never imports torch. The base is
a sentence-transformers checkpoint folder (distillation passes the packaged all-MiniLM-L6-v2,
the fp32 safetensors the kit's int8 encoder is derived from). The classifier is that one fit: a share of the rows is held out of
it and only predicted, so its confidences on them are those of the very model that is kept.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from slmkit.errors import InvalidInputError, NotTrainedError, SlmkitError

SCRIPT = Path(__file__).with_name("finetune_onnx.py")


@dataclass(frozen=True)
class FineTuneSettings:
    python: str
    base: Path  # a sentence-transformers checkpoint folder: config.json, weights, tokenizer.json
    epochs: int = 4
    max_length: int = 128
    lr: float = 5e-5
    head_lr: float = 2e-3
    batch: int = 16
    threads: int = 2
    seed: int = 13
    timeout_s: float = 3_600.0
    # Fine-tuning is background work beside a server: at a higher niceness the requests come first
    # when both want the CPU (0: the server's own priority).
    nice: int = 10


@dataclass
class FineTunedClassifier:
    """``model.onnx`` (token ids -> label probabilities) and its tokenizer, in ``folder``."""

    folder: Path
    labels: list[str]
    max_length: int = 128
    threads: int = 1
    # A classifier just trained lives in a temporary folder until the registry copies it; this keeps
    # the folder for as long as the classifier does.
    keep: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> FineTunedClassifier:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort
                from tokenizers import Tokenizer

                try:
                    tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
                    options = ort.SessionOptions()
                    options.intra_op_num_threads = self.threads
                    options.inter_op_num_threads = 1
                    options.log_severity_level = 3
                    session = ort.InferenceSession(str(self.folder / "model.onnx"), options,
                                                   providers=["CPUExecutionProvider"])
                except Exception as exc:  # noqa: BLE001 - onnxruntime and tokenizers raise their own types
                    raise NotTrainedError(f"fine-tuned classifier in {self.folder} cannot be read "
                                          f"({type(exc).__name__})") from None
                tokenizer.enable_truncation(max_length=self.max_length)
                tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]") or 0, pad_token="[PAD]")
                self._tokenizer, self._session = tokenizer, session
        return self

    @property
    def size_bytes(self) -> int:
        return (self.folder / "model.onnx").stat().st_size

    def predict_proba(self, texts: Sequence[str], batch: int = 8) -> np.ndarray:
        self.warm_up()
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        for start in range(0, len(texts), batch):
            encodings = self._tokenizer.encode_batch(list(texts[start : start + batch]))
            feeds = {"input_ids": np.asarray([e.ids for e in encodings], dtype=np.int64),
                     "attention_mask": np.asarray([e.attention_mask for e in encodings], dtype=np.int64)}
            out[start : start + len(encodings)] = self._session.run(None, feeds)[0]
        return out


def finetune(texts: Sequence[str], labels: Sequence[str], heldout: Sequence[int], settings: FineTuneSettings,
             ) -> tuple[FineTunedClassifier, np.ndarray]:
    """Fit on every row not in ``heldout``; return the classifier and its probabilities on ``heldout``."""
    if not Path(settings.python).is_file():
        raise SlmkitError(f"{settings.python} does not exist: fine-tuning needs an interpreter with torch and "
                          "transformers (`make baseline` builds .venv-baseline/bin/python)")
    names = sorted(set(labels))
    if len(names) < 2:
        raise InvalidInputError("fine-tuning needs at least two labels")
    held = set(heldout)
    train = [i for i in range(len(texts)) if i not in held]
    if len({labels[i] for i in train}) < 2:
        raise InvalidInputError("the rows fitted on hold a single label: too few examples per label")
    index = {name: i for i, name in enumerate(names)}
    folder = tempfile.TemporaryDirectory(prefix="slmkit-finetune-")
    out = Path(folder.name)
    job = {"model": str(settings.base), "texts": list(texts), "labels": [index[x] for x in labels],
           "n_labels": len(names), "train": train, "heldout": list(heldout), "epochs": settings.epochs,
           "max_length": settings.max_length, "lr": settings.lr, "head_lr": settings.head_lr,
           "batch": settings.batch, "seed": settings.seed, "threads": settings.threads,
           "nice": settings.nice}
    (out / "job.json").write_text(json.dumps(job))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    try:
        result = subprocess.run([settings.python, str(SCRIPT), str(out / "job.json"), str(out)], capture_output=True,
                                text=True, timeout=settings.timeout_s, env=env)
    except subprocess.TimeoutExpired:
        raise SlmkitError(f"fine-tuning took longer than {settings.timeout_s:.0f} s and was stopped") from None
    (out / "job.json").unlink(missing_ok=True)  # the payloads: never left beside the model
    if result.returncode != 0:
        raise SlmkitError(f"fine-tuning failed: {result.stderr.strip()[-800:]}")
    probabilities = np.asarray(json.loads((out / "heldout.json").read_text()), dtype=np.float32)
    classifier = FineTunedClassifier(out, names, settings.max_length, keep=folder)
    (out / "labels.json").write_text(json.dumps(names))
    return classifier.warm_up(), probabilities.reshape(len(heldout), len(names))


def load(folder: Path, max_length: int = 128) -> FineTunedClassifier:
    """A classifier saved by the distillation registry (``labels.json`` beside the model)."""
    try:
        names = json.loads((folder / "labels.json").read_text())
    except (OSError, ValueError) as exc:
        raise NotTrainedError(f"fine-tuned classifier in {folder} cannot be read ({type(exc).__name__})") from None
    return FineTunedClassifier(folder, list(names), max_length).warm_up()


def copy_folder(source: Path, target: Path, names: Sequence[str]) -> None:
    """Copy ``names`` from ``source`` into a new folder ``target``, atomically: a crash leaves no half folder."""
    import shutil

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        for name in names:
            shutil.copyfile(source / name, tmp / name)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
