"""The options of the on-demand actions (reconcile, replay), validated alike wherever they come
from: the HTTP routes' bodies and the cloud functions' events (:mod:`.handlers`).

Pydantic only, no FastAPI, so a function package without the ``server`` extra can import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator
from pydantic import ValidationError as PydanticValidationError

from skybridge.apps.kit.limits import list_or_all
from skybridge.core.errors import ValidationError, shown

MAX_NAMES = 1000
M = TypeVar("M", bound=BaseModel)


class ReconcileRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: StrictBool = Field(default=True, description="Only plan (the default); false repairs")
    mappings: list[str] | None = Field(default=None, max_length=MAX_NAMES)
    full: StrictBool = Field(
        default=False,
        description="Read every target instead of only those the change feed names",
    )


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[str] | None = Field(default=None, max_length=MAX_NAMES)
    all: StrictBool = False

    @model_validator(mode="after")
    def _one(self) -> ReplayRequest:
        list_or_all(self.ids, self.all, "ids")
        return self


def validate_options(
    model: type[M], options: Mapping[str, Any], *, what: str, names: Mapping[str, str] = {}
) -> M:
    """``options`` as ``model``, or a :class:`ValidationError` naming each bad field.

    Args:
        model: the request model.
        options: the given options (keys the model does not know are ignored).
        what: what the options are for, first in the message (``"the replay action"``).
        names: the caller's name for a model field (``{"ids": "letter_ids"}``), used in the
            message instead.
    """
    try:
        return model.model_validate(options)
    except PydanticValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = [
                names.get(str(p), str(p)) if i == 0 else str(p) for i, p in enumerate(error["loc"])
            ]
            message = str(error["msg"]).removeprefix("Value error, ")
            for field, name in names.items():
                message = message.replace(f"'{field}'", f"'{name}'")
            given = f" (got {shown(error['input'])})" if loc else ""
            problems.append(f"{'.'.join(loc) or 'options'}: {message}{given}")
        raise ValidationError(f"{what}: {'; '.join(problems)}") from None
