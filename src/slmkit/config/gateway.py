"""Gateway settings (the ``gateway:`` section); pydantic only.

    gateway:
      host: 127.0.0.1
      port: 8080
      max_body_bytes: 1048576
      log_content: redacted      # redacted | none | full
      default_rpm: 600           # per API key, unless the key sets its own
      auth: keys                 # keys | off (`slmkit serve --no-auth`, loopback only)

Auth fails closed: once any key has been created, every endpoint but /healthz and /readyz needs a
valid one, also after the last key is revoked. ``auth: off`` is for development on loopback.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class GatewaySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    log_content: Literal["redacted", "none", "full"] = "redacted"
    default_rpm: int = Field(600, ge=1)
    max_tokens_default: int = Field(256, ge=1, le=8192)
    auth: Literal["keys", "off"] = "keys"
