import numpy as np

from slmkit.train.heads import LinearHead
from slmkit.train.store import read_npz, write_npz


def _blobs(n: int, seed: int = 0, spread: float = 1.0):
    rng = np.random.default_rng(seed)
    centres = np.array([[2.0, 0, 0], [0, 2.0, 0], [0, 0, 2.0]])
    y = rng.integers(0, 3, n)
    x = centres[y] + rng.normal(0, spread, (n, 3))
    return x.astype(np.float32), [f"c{i}" for i in y]


def test_temperature_makes_confidence_match_accuracy():
    x, y = _blobs(600)
    head = LinearHead.fit(x, y, c=100.0)
    xt, yt = _blobs(2000, seed=1)
    p = head.predict_proba(xt)
    conf = p.max(axis=1)
    hit = np.asarray([head.labels[i] == g for i, g in zip(p.argmax(axis=1), yt, strict=True)])
    assert abs(conf.mean() - hit.mean()) < 0.05


def test_binary_head_has_two_symmetric_columns_and_round_trips(tmp_path):
    x, y = _blobs(200)
    mask = np.asarray([label != "c2" for label in y])
    texts = ["alpha words" if label == "c0" else "beta words" for label in np.asarray(y)[mask]]
    head = LinearHead.fit(x[mask], list(np.asarray(y)[mask]), texts=texts)
    assert head.weights.shape[0] == 2 and head.lexical is not None
    path = tmp_path / "h.npz"
    write_npz(path, head)
    again = read_npz(path)
    assert again.labels == head.labels
    assert np.allclose(again.predict_proba(x[mask][:5], texts[:5]), head.predict_proba(x[mask][:5], texts[:5]))
