"""`slmkit bench route`: every routing strategy on held-out MMLU, from one recorded outcome table.

Both local tiers answer a stratified MMLU sample once (router/outcomes.py, cached in
the data dir). Half of each topic trains and calibrates (letter priors, the learned
router, the stacker, the thresholds); the other half is only ever scored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from slmkit.router.evaluate import (
    Curve,
    answers,
    curve,
    letter_prior,
    operate,
    random_curve,
    split_outcomes,
    threshold_for_quality,
    threshold_for_share,
)
from slmkit.router.outcomes import Outcome


def router_input(o: Outcome) -> str:
    """The request as a user sends it (the prompt without the trailing 'Answer:')."""
    return f"The following is a multiple choice question about {o.topic}.\n\n{o.question}"


@dataclass
class RouteBench:
    small: str
    large: str
    outcomes_file: str
    n_train: int
    n_test: int
    tiers: dict[str, dict[str, float]]  # accuracy raw / calibrated, per tier, on the test split
    curves: list[Curve]
    costs: dict[str, float]  # USD per 1k questions at the 50%-share operating point
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "small": self.small, "large": self.large, "outcomes_file": self.outcomes_file,
            "n_train": self.n_train, "n_test": self.n_test, "tiers": self.tiers, "costs": self.costs,
            "strategies": [{"strategy": c.strategy, "apgr": c.apgr, "share_for_gap": c.share_for_gap,
                            "operating": c.operating,
                            "curve": {"share": c.shares[:: max(1, len(c.shares) // 50)].round(4).tolist(),
                                      "accuracy": c.accuracy[:: max(1, len(c.accuracy) // 50)].round(4).tolist()}}
                           for c in self.curves],
            **self.extra,
        }


def _stack(learned_logit: np.ndarray, tier) -> np.ndarray:  # noqa: ANN001
    # Only what the runtime router has for a free-form request too: the learned router's
    # logit and the small tier's confidence in its own answer.
    return np.column_stack([learned_logit, tier.confidence])


def evaluate_route(rows: list[Outcome], small: str, large: str, outcomes_file: Path,
                   share: float = 0.5, quality: float = 0.95, seed: int = 13) -> RouteBench:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from slmkit.config import get_settings
    from slmkit.router.learned import LearnedRouter
    from slmkit.router.tiers import cost

    split = split_outcomes(rows, 0.5, seed)
    tr, te = split.train, split.test
    gold_tr = np.array([o.gold for o in tr])
    gold_te = np.array([o.gold for o in te])
    lp = {t: (np.array([getattr(o, t) for o in tr]), np.array([getattr(o, t) for o in te])) for t in ("small", "large")}
    prior = {t: letter_prior(lp[t][0]) for t in lp}
    a_tr = {t: answers(lp[t][0], gold_tr, prior[t]) for t in lp}
    a_te = {t: answers(lp[t][1], gold_te, prior[t]) for t in lp}
    tiers = {t: {"accuracy_raw": float((lp[t][1].argmax(1) == gold_te).mean()),
                 "accuracy": float(a_te[t].correct.mean()),
                 "letter_prior": np.exp(prior[t]).round(3).tolist()} for t in lp}
    s_tr, l_tr = a_tr["small"].correct, a_tr["large"].correct
    s_te, l_te = a_te["small"].correct, a_te["large"].correct

    router = LearnedRouter(threads=get_settings().threads)
    x_tr = router.features([router_input(o) for o in tr])
    x_te = router.features([router_input(o) for o in te])
    y_tr = (l_tr & ~s_tr).astype(int)
    router = router.fit([router_input(o) for o in tr], s_tr, l_tr, features=x_tr, seed=seed)
    learned_te = router.needs_large(features=x_te)
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    # Out-of-fold scores on the training rows: the stacker and the thresholds must not see
    # the learned router's fit on the very rows they are fitted on.
    learned_tr_cv = cross_val_predict(LogisticRegression(C=router.c, max_iter=2000), x_tr, y_tr, cv=folds,
                                      method="predict_proba")[:, 1]
    logit = lambda p: np.log(np.clip(p, 1e-6, 1 - 1e-6) / np.clip(1 - p, 1e-6, 1))  # noqa: E731
    stacker = LogisticRegression(max_iter=2000).fit(_stack(logit(learned_tr_cv), a_tr["small"]), y_tr)
    combined_tr = stacker.predict_proba(_stack(logit(learned_tr_cv), a_tr["small"]))[:, 1]
    combined_te = stacker.predict_proba(_stack(logit(learned_te), a_te["small"]))[:, 1]

    scores = {
        "always-small": (np.zeros(len(tr)), np.zeros(len(te))),
        "always-large": (np.ones(len(tr)), np.ones(len(te))),
        "learned": (learned_tr_cv, learned_te),
        "cascade": (1 - a_tr["small"].confidence, 1 - a_te["small"].confidence),
        "combined": (combined_tr, combined_te),
    }
    curves = []
    for name in ("always-small", "always-large"):
        # A fixed tier is one point, not a curve: no APGR, no share to reach.
        share_here = 0.0 if name == "always-small" else 1.0
        accuracy = np.array([(s_te if share_here == 0 else l_te).mean()])
        c = Curve(name, np.array([share_here]), accuracy, float("nan"), {"50%": None, "80%": None, "95%": None})
        c.operating = {"share": operate(scores[name][1], 0.5, s_te, l_te)}
        curves.append(c)
    rnd = random_curve(s_te, l_te)
    rnd.operating = {"share": {"threshold": float("nan"), "large_share": share,
                               "accuracy": float(s_te.mean() + share * (l_te.mean() - s_te.mean())),
                               "of_large": float((s_te.mean() + share * (l_te.mean() - s_te.mean())) / l_te.mean())}}
    curves.append(rnd)
    for name in ("learned", "cascade", "combined"):
        train_scores, test_scores = scores[name]
        c = curve(name, test_scores, s_te, l_te)
        c.operating = {
            "share": operate(test_scores, threshold_for_share(train_scores, share), s_te, l_te),
            "quality": operate(test_scores, threshold_for_quality(train_scores, s_tr, l_tr, quality), s_te, l_te),
        }
        curves.append(c)

    settings = get_settings().router
    tokens = np.array([o.prompt_tokens for o in te])
    price = {t: np.array([cost(settings.tiers[getattr(settings, f"{t}_tier")], settings, n, 1) for n in tokens])
             for t in ("small", "large")}
    costs = {}
    for c in curves:
        op = c.operating.get("share", {})
        if c.strategy in ("always-small", "always-large"):
            costs[c.strategy] = float(price[c.strategy.split("-")[1]].sum())
            continue
        if c.strategy == "random":
            costs[c.strategy] = float(price["small"].sum() * (1 - share) + price["large"].sum() * share)
            continue
        escalate = scores[c.strategy][1] >= op["threshold"]
        runs_small = c.strategy in ("cascade", "combined")  # the small tier answers first, always
        costs[c.strategy] = float((np.where(escalate, price["large"], 0 if runs_small else price["small"])
                                   + (price["small"] if runs_small else 0)).sum())
    costs = {k: 1000 * v / len(te) for k, v in costs.items()}
    return RouteBench(small, large, str(outcomes_file), len(tr), len(te), tiers, curves, costs,
                      {"learned_router_c": router.c, "operating_share": share, "operating_quality": quality})


def plot_route(bench: RouteBench, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for c in bench.curves:
        if c.strategy in ("always-small", "always-large"):
            continue
        ax.plot(c.shares, c.accuracy, label=f"{c.strategy} (APGR {c.apgr:.2f})",
                linestyle="--" if c.strategy == "random" else "-")
    large = bench.tiers["large"]["accuracy"]
    ax.axhline(large, color="grey", linewidth=0.8)
    ax.axhline(0.95 * large, color="grey", linewidth=0.8, linestyle=":")
    ax.axvline(0.5, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xlabel("share of questions sent to the large tier")
    ax.set_ylabel("accuracy on held-out MMLU")
    ax.set_title(f"{bench.small} → {bench.large}, {bench.n_test} held-out questions")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run_route_bench(small: str, large: str, per_topic: int, seed: int, threads: int = 2,
                    progress: Callable[[int], None] | None = None) -> RouteBench:
    from slmkit.router.outcomes import build_outcomes

    path, rows = build_outcomes(small, large, per_topic, seed, threads, progress=progress)
    return evaluate_route(rows, small, large, path, seed=seed)


def training_records(rows: list[Outcome], seed: int = 13) -> list:
    """The training half of an outcome table as calibration records (the held-out half stays unseen)."""
    from slmkit.router.calibration import Record

    train = split_outcomes(rows, 0.5, seed).train
    gold = np.array([o.gold for o in train])
    tiers = {t: answers(np.array([getattr(o, t) for o in train]), gold,
                        letter_prior(np.array([getattr(o, t) for o in train]))) for t in ("small", "large")}
    return [Record(router_input(o), bool(s), bool(lg), float(c))
            for o, s, lg, c in zip(train, tiers["small"].correct, tiers["large"].correct,
                                   tiers["small"].confidence, strict=True)]
