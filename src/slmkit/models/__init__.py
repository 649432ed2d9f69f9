"""Models layer: what models exist (catalog), where their files are (store), how they run (runtimes)."""

from slmkit.models.catalog import CATALOG, ModelSpec, PackagedFile, get_spec

__all__ = ["CATALOG", "ModelSpec", "PackagedFile", "get_spec"]
