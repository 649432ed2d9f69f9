"""One settings object for the whole kit, loadable from YAML and the environment.

Precedence, highest first: explicit keyword arguments, ``SLMKIT_*`` environment
variables, the YAML file named by ``SLMKIT_CONFIG`` (or ``<data_dir>/config.yaml``),
then the defaults below.

Each section of the file has its model in a module of this package (``router``, ``gateway``,
``plan``, ``guard``, ``distill``). Settings are data: these modules import pydantic and the standard
library, never the code that acts on them, so every layer can read its settings.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from slmkit.config.deploy import RaySettings
from slmkit.config.distill import DistillSettings
from slmkit.config.gateway import GatewaySettings
from slmkit.config.guard import GuardPolicy
from slmkit.config.plan import PlanSettings
from slmkit.config.router import RouterSettings
from slmkit.config.store import StoreSettings


def _default_data_dir() -> Path:
    return Path(os.environ.get("SLMKIT_DATA_DIR", Path.home() / ".slmkit")).expanduser()


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the YAML config file; missing file means no values."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("SLMKIT_CONFIG")
        candidate = Path(path) if path else _default_data_dir() / "config.yaml"
        if not candidate.is_file():
            if path:
                raise FileNotFoundError(f"SLMKIT_CONFIG points at {candidate}, which does not exist")
            return {}
        data = yaml.safe_load(candidate.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{candidate}: the config file must be a YAML mapping")
        return data


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SLMKIT_", env_nested_delimiter="__", extra="forbid")

    data_dir: Path = Field(default_factory=_default_data_dir, description="State: heads, logs, indexes.")
    cache_dir: Path | None = Field(
        default=None,
        description="Assembled model files and extracted data sets; shared, rebuildable. "
        "Defaults to <data_dir>/cache.",
    )
    threads: int = Field(default=1, ge=1, le=64, description="Intra-op threads per runtime.")
    embed_model: str = Field(default="minilm-l6-int8", description="Catalog name of the default encoder.")
    generator_model: str = Field(default="qwen2.5-coder-0.5b", description="Catalog name of the small generator.")
    max_text_chars: int = Field(default=100_000, ge=1, description="Longer inputs are refused, not truncated silently.")
    max_tokens: int = Field(default=256, ge=8, le=8192, description="Encoder truncation length in tokens.")
    batch_size: int = Field(default=32, ge=1, le=1024)
    none_threshold: float = Field(
        default=0.5, ge=0.0, le=1.0, description="Below this calibrated probability a head answers 'none of these'."
    )
    guard: GuardPolicy = Field(default_factory=GuardPolicy, description="What happens to text bound for a model.")
    router: RouterSettings = Field(default_factory=RouterSettings, description="Tiers, their costs, and routing.")
    gateway: GatewaySettings = Field(default_factory=GatewaySettings, description="The OpenAI-compatible server.")
    plan: PlanSettings = Field(default_factory=PlanSettings, description="The planner, executor and workflows.")
    distill: DistillSettings = Field(default_factory=DistillSettings,
                                     description="Capture, task discovery, students and their promotion.")
    store: StoreSettings = Field(default_factory=StoreSettings,
                                 description="Shared state: SQLite by default, PostgreSQL for replicas.")
    ray: RaySettings = Field(default_factory=RaySettings, description="`slmkit serve --ray`: Ray Serve deployments.")

    @field_validator("data_dir", "cache_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @property
    def cache(self) -> Path:
        return self.cache_dir if self.cache_dir is not None else self.data_dir / "cache"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _YamlSource(settings_cls)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing the environment."""
    return Settings()
