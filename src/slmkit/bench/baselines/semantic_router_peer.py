"""Run inside .venv-peers: semantic-router's IndexedRouter with slmkit's ONNX encoder as its encoder.

Reads one fold (routes, fit data, test data) from the JSON file given, fits the
router's calibrator on the fit data, picks its confidence threshold on the same fit
data, and prints accuracy and per-call latencies on the test data as one JSON line.
"""

import json
import os
import sys
import time

os.environ.setdefault("SLMKIT_THREADS", "1")

from semantic_router import IndexedRouter, Route, __version__  # noqa: E402
from semantic_router.encoders.base import DenseEncoder  # noqa: E402

from slmkit.skills.embed import Embed  # noqa: E402


class SlmkitEncoder(DenseEncoder):
    name: str = "slmkit-onnx"
    type: str = "slmkit"
    model: str | None = None

    def model_post_init(self, _context) -> None:  # noqa: ANN001
        object.__setattr__(self, "_embed", Embed(self.model, 1).warm_up())

    def __call__(self, docs):  # noqa: ANN001, ANN204
        return self._embed.vectors([str(d) for d in docs]).tolist()


def main(path: str) -> None:
    spec = json.loads(open(path, encoding="utf-8").read())
    encoder = SlmkitEncoder(model=spec.get("model"))
    routes = [Route(name=name, utterances=utts) for name, utts in spec["routes"].items()]
    router = IndexedRouter(encoder=encoder, routes=routes)
    router.fit(spec["fit_x"], spec["fit_y"])
    # The package calibrates confidences but leaves the bar to the user: give it the same
    # chance ours gets, the threshold that scores best on the fit data.
    grid = [i / 40 for i in range(0, 40)]
    scores = []
    for t in grid:
        router.confidence_threshold = t
        scores.append((router.evaluate(spec["fit_x"], spec["fit_y"]), -abs(t - 0.5), t))
    router.confidence_threshold = max(scores)[2]
    router(spec["test_x"][0])
    latencies, correct = [], 0
    for text, gold in zip(spec["test_x"], spec["test_y"]):
        started = time.perf_counter()
        choice = router(text)
        latencies.append(1000 * (time.perf_counter() - started))
        correct += getattr(choice, "name", None) == gold
    print(json.dumps({"accuracy": correct / len(spec["test_x"]), "latencies_ms": latencies,
                      "threshold": router.confidence_threshold, "version": __version__}))


if __name__ == "__main__":
    main(sys.argv[1])
