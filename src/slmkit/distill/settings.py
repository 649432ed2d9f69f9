"""The ``distill:`` settings section now lives with the other sections in :mod:`slmkit.config.distill`;
re-exported here so ``slmkit.distill.settings`` keeps working."""

from __future__ import annotations

from slmkit.config.distill import Candidate, Capture, DistillSettings, Redaction

__all__ = ["Candidate", "Capture", "DistillSettings", "Redaction"]
