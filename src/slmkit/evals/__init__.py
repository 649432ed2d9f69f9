"""Evaluation: offline data-set loaders from registry packages, metrics, `slmkit eval` and `slmkit bench`."""
