"""The ``[hello]`` section of skybridge.toml (or ``SKYBRIDGE__HELLO__<KEY>``)."""

from pydantic import BaseModel, ConfigDict, Field


class HelloConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: str = Field(default="hello.greetings", min_length=1)
    greeting: str = Field(default="Hello", min_length=1, max_length=40)
    heartbeat_every: float = Field(default=60.0, ge=1.0)
