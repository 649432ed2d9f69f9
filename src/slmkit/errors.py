"""The errors slmkit raises on purpose. Each says what went wrong and what to do next."""

from __future__ import annotations


class SlmkitError(Exception):
    """Base class: anything slmkit raises deliberately. The CLI prints these without a traceback."""

    exit_code = 1


class InvalidInputError(SlmkitError, ValueError):
    """The caller's input cannot be used as given (empty, not text, too long, unknown label...)."""

    exit_code = 2


class ModelMissingError(SlmkitError):
    """A model's weights are not installed. The message names the package(s) to install."""

    exit_code = 3


class ModelCorruptError(SlmkitError):
    """A model file (or one of its parts) exists but its checksum or size is wrong."""

    exit_code = 3


class DatasetMissingError(SlmkitError):
    """A data set cannot be loaded from its registry package."""

    exit_code = 3


class NotTrainedError(SlmkitError):
    """A head was asked to predict before it was trained or loaded."""

    exit_code = 4
