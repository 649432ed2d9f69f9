"""`slmkit route calibrate`: fit the learned router, the combiner and every threshold from outcomes.

An outcome record is what a deployment can log for itself: the query, whether the
small and the large tier answered it correctly, and the small tier's confidence.

    {"query": "...", "small_correct": true, "large_correct": true, "small_confidence": 0.83}

Thresholds are chosen to hit a target share of large-tier calls, or the cheapest
setting that reaches a target fraction of the large tier's quality.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from slmkit.config import get_settings
from slmkit.errors import InvalidInputError, NotTrainedError
from slmkit.router.evaluate import threshold_for_quality, threshold_for_share
from slmkit.router.learned import LearnedRouter


@dataclass(frozen=True)
class Record:
    query: str
    small_correct: bool
    large_correct: bool
    small_confidence: float


@dataclass
class Calibration:
    cascade_threshold: float  # accept the small answer at or above this confidence
    learned_threshold: float  # escalate at or above this "needs large" probability
    combined_threshold: float
    combiner: list[float]  # logistic weights on [learned logit, small confidence] and the intercept
    target: dict[str, float]
    records: int
    source: str

    def combined_score(self, learned_p: float, confidence: float) -> float:
        logit = float(np.log(np.clip(learned_p, 1e-6, 1 - 1e-6) / np.clip(1 - learned_p, 1e-6, 1)))
        z = self.combiner[0] * logit + self.combiner[1] * confidence + self.combiner[2]
        return float(1 / (1 + np.exp(-z)))


def route_dir() -> Path:
    return get_settings().data_dir / "route"


def read_records(path: Path) -> list[Record]:
    """Outcome records from JSONL; a bad line is reported with its number, nothing is guessed."""
    records = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInputError(f"cannot read outcomes from {path}: {exc}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            records.append(Record(str(row["query"]), bool(row["small_correct"]), bool(row["large_correct"]),
                                  float(row["small_confidence"])))
        except (ValueError, KeyError, TypeError):
            raise InvalidInputError(
                f"{path}:{number}: expected query, small_correct, large_correct and small_confidence"
            ) from None
    return records


def calibrate(records: Sequence[Record], target_share: float | None = None, target_quality: float | None = None,
              source: str = "", seed: int = 13) -> tuple[Calibration, LearnedRouter]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    if (target_share is None) == (target_quality is None):
        raise InvalidInputError("give exactly one target: a large-tier share or a quality fraction")
    if len(records) < 40:
        raise InvalidInputError(f"{len(records)} outcome records are too few to calibrate on; record at least 40")
    small = np.array([r.small_correct for r in records])
    large = np.array([r.large_correct for r in records])
    confidence = np.array([r.small_confidence for r in records])
    router = LearnedRouter(threads=get_settings().threads)
    x = router.features([r.query for r in records])
    router.fit([r.query for r in records], small, large, features=x, seed=seed)
    y = (large & ~small).astype(int)
    folds = StratifiedKFold(min(5, int(np.bincount(y).min())), shuffle=True, random_state=seed)
    learned = cross_val_predict(LogisticRegression(C=router.c, max_iter=2000), x, y, cv=folds,
                                method="predict_proba")[:, 1]
    logit = np.log(np.clip(learned, 1e-6, 1 - 1e-6) / np.clip(1 - learned, 1e-6, 1))
    combiner = LogisticRegression(max_iter=2000).fit(np.column_stack([logit, confidence]), y)
    combined = combiner.predict_proba(np.column_stack([logit, confidence]))[:, 1]

    def fit(scores: np.ndarray) -> float:
        if target_share is not None:
            return threshold_for_share(scores, target_share)
        return threshold_for_quality(scores, small, large, target_quality)  # type: ignore[arg-type]

    cascade_cut = fit(1 - confidence)  # escalate when 1 - confidence >= cut
    calibration = Calibration(
        cascade_threshold=float(np.clip(1 - cascade_cut, 0.0, 1.0)) if np.isfinite(cascade_cut) else 0.0,
        learned_threshold=fit(learned),
        combined_threshold=fit(combined),
        combiner=[float(combiner.coef_[0][0]), float(combiner.coef_[0][1]), float(combiner.intercept_[0])],
        target={"large_share": target_share} if target_share is not None else {"quality": target_quality},
        records=len(records),
        source=source,
    )
    return calibration, router


def save(calibration: Calibration, router: LearnedRouter, directory: Path | None = None) -> Path:
    directory = directory or route_dir()
    directory.mkdir(parents=True, exist_ok=True)
    router.save(directory / "learned.json")
    path = directory / "calibration.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(calibration), indent=2, allow_nan=True), encoding="utf-8")
    tmp.replace(path)
    return path


def load(directory: Path | None = None) -> Calibration:
    path = (directory or route_dir()) / "calibration.json"
    if not path.is_file():
        raise NotTrainedError(f"no calibration at {path}: run `slmkit route calibrate` first")
    return Calibration(**json.loads(path.read_text(encoding="utf-8")))
