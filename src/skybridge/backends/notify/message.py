"""What apps send (:class:`Notification`) and what a notifier delivers (:class:`Message`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, HttpUrl, field_validator

from skybridge.core.secret import scrub


class Severity(StrEnum):
    """How urgent a notification is."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Notification(BaseModel):
    """One alert or report an app wants people to see.

    Attributes:
        title: One line saying what happened.
        body: Details (plain text); ``text=`` is accepted as an alias.
        severity: ``info``, ``warning`` or ``critical``.
        dedup_key: Names the incident; one incident is announced once per dedup window.
        fields: Short facts shown as a table (values are turned into text).
        link: Where to look (dashboard, run, runbook).
        source: The app that sent it, for example ``secretsync``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = Field(min_length=1)
    body: str = Field(default="", validation_alias=AliasChoices("body", "text"))
    severity: Severity = Severity.INFO
    dedup_key: str | None = None
    fields: dict[str, str] = Field(default_factory=dict)
    link: HttpUrl | None = None
    source: str | None = None

    @field_validator("fields", mode="before")
    @classmethod
    def _fields_as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        return value


@dataclass(frozen=True)
class Message:
    """A notification as it leaves the process: secrets scrubbed, suppressed count attached.

    Implementations render it with :meth:`subject`, :meth:`plain_text`, :meth:`html` or
    :meth:`as_dict` so every channel says the same thing.
    """

    title: str
    body: str
    severity: Severity
    dedup_key: str | None
    fields: dict[str, str]
    link: str | None
    source: str | None
    #: Messages held back (duplicates, over the rate limit) since the last one that went out.
    suppressed: int = 0

    @classmethod
    def from_notification(cls, note: Notification, *, suppressed: int = 0) -> Message:
        return cls(
            title=scrub(note.title),
            body=scrub(note.body),
            severity=note.severity,
            dedup_key=note.dedup_key,
            fields={scrub(k): scrub(v) for k, v in note.fields.items()},
            link=scrub(str(note.link)) if note.link else None,
            source=note.source,
            suppressed=suppressed,
        )

    @property
    def suppressed_summary(self) -> str | None:
        """``"3 similar alerts suppressed"`` when anything was held back, else ``None``."""
        if not self.suppressed:
            return None
        noun = "alert" if self.suppressed == 1 else "alerts"
        return f"{self.suppressed} similar {noun} suppressed"

    def subject(self) -> str:
        """``"[CRITICAL] title"``: the one line for email subjects and chat fallbacks."""
        return f"[{self.severity.value.upper()}] {self.title}"

    def context_line(self) -> str:
        """Severity, source and suppressed summary on one line."""
        parts = [f"severity: {self.severity.value}"]
        if self.source:
            parts.append(f"source: {self.source}")
        if self.suppressed_summary:
            parts.append(self.suppressed_summary)
        return " | ".join(parts)

    def plain_text(self) -> str:
        """The whole message as plain text."""
        lines = [self.subject()]
        if self.body:
            lines += ["", self.body]
        if self.fields:
            lines.append("")
            lines += [f"{k}: {v}" for k, v in self.fields.items()]
        if self.link:
            lines += ["", self.link]
        lines += ["", self.context_line()]
        return "\n".join(lines)

    def html(self) -> str:
        """A simple HTML rendering (title, body, fields table, link, context)."""
        from html import escape

        out = [f"<h2>{escape(self.subject())}</h2>"]
        if self.body:
            out.append(f"<p>{escape(self.body).replace(chr(10), '<br>')}</p>")
        if self.fields:
            rows = "".join(
                f"<tr><th align='left'>{escape(k)}</th><td>{escape(v)}</td></tr>"
                for k, v in self.fields.items()
            )
            out.append(f"<table>{rows}</table>")
        if self.link:
            out.append(f"<p><a href='{escape(self.link)}'>{escape(self.link)}</a></p>")
        out.append(f"<p><small>{escape(self.context_line())}</small></p>")
        return "\n".join(out)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "title": self.title,
            "body": self.body,
            "severity": self.severity.value,
            "dedup_key": self.dedup_key,
            "fields": dict(self.fields),
            "link": self.link,
            "source": self.source,
            "suppressed": self.suppressed,
            "summary": self.suppressed_summary,
        }
