"""The ``[assertions]`` section of skybridge.toml (or ``SKYBRIDGE__ASSERTIONS__<KEY>``).

The database is ``backends.sql``; ``skybridge assert ... --db URL`` names another one.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from skybridge.core.config import SettingsModel


class AssertionsConfig(SettingsModel):
    """Settings of the assertions app."""

    model_config = ConfigDict(extra="forbid")

    check_rows: int = Field(
        default=20, ge=1, le=10_000, description="Violating rows shown per assertion on checks"
    )
    statement_timeout: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Seconds each statement the service runs for users may take (apply, check)",
    )
