"""Where shared state lives (the ``store:`` section); pydantic only.

    store:
      url: postgresql://slmkit:secret@db.internal:5432/slmkit   # default: none, the SQLite file below
      pool_size: 8            # connections per process
      connect_timeout: 10     # seconds

Without ``url`` the gateway keeps keys, rate-limit windows, token use and the request log in
``<data_dir>/gateway.sqlite`` (one machine). Several replicas, on one machine or many, need one
PostgreSQL database so that they share keys, enforce each key's limit together and write one log.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

URL_SCHEMES = ("postgresql://", "postgres://", "sqlite:///")


class StoreSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, description="postgresql://user:password@host:port/db, or sqlite:///path; "
                            "default: <data_dir>/gateway.sqlite.")
    pool_size: int = Field(8, ge=1, le=256, description="Database connections per process.")
    connect_timeout: float = Field(10.0, gt=0, le=300)

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(URL_SCHEMES):
            raise ValueError(f"store.url must start with one of {', '.join(URL_SCHEMES)}")
        return value
