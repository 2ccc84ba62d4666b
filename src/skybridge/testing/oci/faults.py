"""Fault and latency injection by OCI operation name (``"UpdateSecret"``, ``"*"``...)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from skybridge.testing.oci.errors import DEFAULT_CODES, ApiError

ANY = "*"


@dataclass
class _Fault:
    operation: str
    status: int
    code: str
    message: str
    remaining: int | None  # None: until cleared


@dataclass
class _Delay:
    operation: str
    seconds: float
    remaining: int | None


def _matches(rule_operation: str, operation: str) -> bool:
    return rule_operation in (ANY, operation)


class Faults:
    """Rules the server consults before running an operation; each firing counts down.

    Example::

        emu.faults.inject("UpdateSecret", 429, times=2)   # next two UpdateSecret calls get 429
        emu.faults.delay("GetSecretBundle", 0.5)          # every GetSecretBundle waits 0.5 s
        emu.faults.clear()
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._delays: list[_Delay] = []

    def inject(
        self,
        operation: str,
        status: int,
        times: int | None = 1,
        code: str | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``operation`` (``"*"``: any) with an error.

        Args:
            operation: OCI operation name, e.g. ``"GetSecretBundle"``, or ``"*"``.
            status: HTTP status to answer with (400-599).
            times: how many calls fail; ``None`` fails every call until :meth:`clear`.
            code: OCI error code; defaults to the documented code for ``status``.
            message: error message; defaults to a note saying the fault was injected.
        """
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status, got {status}")
        fault_code = code or DEFAULT_CODES.get(status, "InternalServerError")
        text = message or f"Injected fault for {operation} ({status} {fault_code})"
        with self._lock:
            self._faults.append(_Fault(operation, status, fault_code, text, times))

    def delay(self, operation: str, seconds: float, times: int | None = None) -> None:
        """Make calls of ``operation`` (``"*"``: any) wait ``seconds`` before answering."""
        with self._lock:
            self._delays.append(_Delay(operation, seconds, times))

    def clear(self) -> None:
        """Remove every fault and delay rule."""
        with self._lock:
            self._faults.clear()
            self._delays.clear()

    @property
    def pending(self) -> int:
        """Faults still to fire (an unlimited rule counts as one)."""
        with self._lock:
            return sum(fault.remaining or 1 for fault in self._faults)

    def take_delay(self, operation: str) -> float:
        """Seconds to wait for this call (rules that match are counted down)."""
        total = 0.0
        with self._lock:
            for rule in list(self._delays):
                if _matches(rule.operation, operation):
                    total += rule.seconds
                    if rule.remaining is not None:
                        rule.remaining -= 1
                        if rule.remaining <= 0:
                            self._delays.remove(rule)
        return total

    def take_fault(self, operation: str) -> ApiError | None:
        """The error this call must answer with, if a rule matches (first rule wins)."""
        with self._lock:
            for rule in self._faults:
                if not _matches(rule.operation, operation):
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        self._faults.remove(rule)
                return ApiError(rule.status, rule.code, rule.message)
        return None
