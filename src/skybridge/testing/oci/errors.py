"""OCI-style API errors: an HTTP status plus the ``{"code", "message"}`` body the SDK parses."""

from __future__ import annotations


class ApiError(Exception):
    """An error answered to the client as ``status`` with an OCI JSON error body.

    Args:
        status: HTTP status code.
        code: OCI service error code (``NotAuthorizedOrNotFound``, ``Conflict``...).
        message: Human-readable message, as the real service words it where known.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


# Default codes per status, as OCI documents them (https://docs.oracle.com/iaas/Content/API/References/apierrors.htm).
DEFAULT_CODES: dict[int, str] = {
    400: "InvalidParameter",
    401: "NotAuthenticated",
    404: "NotAuthorizedOrNotFound",
    409: "Conflict",
    412: "PreconditionFailed",
    429: "TooManyRequests",
    500: "InternalServerError",
    501: "MethodNotImplemented",
    503: "ServiceUnavailable",
}


def not_found(what: str) -> ApiError:
    return ApiError(
        404,
        "NotAuthorizedOrNotFound",
        f"{what} not found or you do not have permission to access it.",
    )


def invalid(message: str) -> ApiError:
    return ApiError(400, "InvalidParameter", message)


def missing(name: str) -> ApiError:
    return ApiError(400, "MissingParameter", f"Missing required parameter: {name}")


def incorrect_state(message: str) -> ApiError:
    return ApiError(409, "IncorrectState", message)


def conflict(message: str) -> ApiError:
    return ApiError(409, "Conflict", message)


def precondition_failed() -> ApiError:
    return ApiError(
        412, "PreconditionFailed", "The resource has changed: the if-match etag does not match."
    )


def limit_exceeded(message: str) -> ApiError:
    return ApiError(400, "LimitExceeded", message)
