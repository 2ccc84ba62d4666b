"""Build targets: a Lambda Python runtime and an architecture, and the wheel tags they take.

Lambda's Python 3.10 and 3.11 runtimes run on Amazon Linux 2 (glibc 2.26); 3.12 and later on
Amazon Linux 2023 (glibc 2.34). A wheel fits when its manylinux tag needs no newer glibc than
the runtime's, so pip is given every ``manylinux_2_X`` tag from the runtime's glibc down to
manylinux2014 (pip does not widen an explicit ``manylinux_2_X`` tag by itself).
"""

from __future__ import annotations

from dataclasses import dataclass

from skybridge.core.errors import ValidationError

#: Python runtimes Lambda supports, with the glibc of the OS each runs on.
RUNTIMES: dict[str, tuple[int, int]] = {
    "python3.10": (2, 26),
    "python3.11": (2, 26),
    "python3.12": (2, 34),
    "python3.13": (2, 34),
    "python3.14": (2, 34),
}
#: Lambda's architecture names -> the machine names in wheel tags and ``platform.machine()``.
ARCHITECTURES: dict[str, str] = {"x86_64": "x86_64", "arm64": "aarch64"}
_OLDEST_GLIBC_MINOR = 17  # manylinux2014
#: Lambda's limit on the unzipped size of a function and all its layers (250 MiB).
UNZIPPED_LIMIT = 262_144_000


@dataclass(frozen=True)
class Target:
    """Where a layer runs: ``python3.12`` on ``arm64``..."""

    runtime: str
    architecture: str

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise ValidationError(
                f"runtime {self.runtime!r} is not a Lambda Python runtime",
                hint=f"use one of {', '.join(RUNTIMES)}",
            )
        if self.architecture not in ARCHITECTURES:
            raise ValidationError(
                f"architecture {self.architecture!r} is not one Lambda offers",
                hint=f"use one of {', '.join(ARCHITECTURES)}",
            )

    @property
    def python_version(self) -> str:
        """``3.12`` for ``python3.12``."""
        return self.runtime.removeprefix("python")

    @property
    def machine(self) -> str:
        """``aarch64`` for ``arm64``."""
        return ARCHITECTURES[self.architecture]

    @property
    def cache_tag(self) -> str:
        """The bytecode tag the runtime reads (``cpython-312``)."""
        return "cpython-" + self.python_version.replace(".", "")

    def platforms(self) -> list[str]:
        """pip ``--platform`` values, newest glibc first."""
        major, newest = RUNTIMES[self.runtime]
        tags = [
            f"manylinux_{major}_{minor}_{self.machine}"
            for minor in range(newest, _OLDEST_GLIBC_MINOR - 1, -1)
        ]
        tags.append(f"manylinux2014_{self.machine}")
        if self.machine == "x86_64":
            tags += ["manylinux2010_x86_64", "manylinux1_x86_64"]
        return tags

    def __str__(self) -> str:
        return f"{self.runtime}/{self.architecture}"
