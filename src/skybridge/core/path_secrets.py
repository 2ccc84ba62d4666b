"""Which segments of a URL path are credentials: webhook tokens and random-looking ids.

A webhook URL carries its credential in the path, so masking the password and the query is not
enough. Two kinds of segment are secret:

* **Known webhook shapes.** Everything after a ``hooks``, ``webhook``, ``webhooks`` or
  ``webhookb2`` segment (Discord ``/api/webhooks/<id>/<token>``, Teams / Office 365
  ``/webhookb2/...``, Mattermost and Rocket.Chat ``/hooks/...``); the third segment of a
  Slack-style ``T<team>/B<channel>/<secret>`` triple on any host; every segment after the first
  on ``hooks.slack.com`` (its ``services``, ``workflows`` and ``triggers`` forms).
* **Random-looking segments**, on any URL: at least 20 token characters (letters, digits and
  ``- _ + = ~ %``; a file extension aside) that either hold a part (between punctuation) of 8
  or more characters mixing letters and digits, or flip case irregularly at least three times
  (``aBC``, ``ABc``, ``AbC``; CamelCase words and acronyms do not count). Hex digests, UUIDs
  and base62 / base64url tokens of 24 bytes or more match with near certainty; shorter tokens
  almost always. Words, dates and numbers (``events-2024-01-01``, ``part-00001.parquet``,
  ``getHTTPResponseCode``) stay readable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_MARKERS = frozenset({"hooks", "webhook", "webhooks", "webhookb2"})
_SLACK_TEAM = re.compile(r"^T[A-Z0-9]+$")
_SLACK_CHANNEL = re.compile(r"^B[A-Z0-9]+$")
_SLACK_HOSTS = ("hooks.slack.com", "hooks.slack-gov.com")
_TOKEN = re.compile(r"[A-Za-z0-9_\-+=~%]+")
_PART_SPLIT = re.compile(r"[_\-+=~%]")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,8}$")
_MIN_RANDOM_LENGTH = 20
_MIN_MIXED_PART = 8
_CASE_FLIP = re.compile(r"(?<=[A-Z])[a-z](?=[A-Z])|[a-z][A-Z]{2,}|[A-Z]{2,}[a-z]")
_MIN_CASE_FLIPS = 3


def looks_random(segment: str) -> bool:
    """Whether ``segment`` looks like a generated token rather than a name a person wrote."""
    token = _EXTENSION.sub("", segment)
    if len(token) < _MIN_RANDOM_LENGTH or not _TOKEN.fullmatch(token):
        return False
    if len(_CASE_FLIP.findall(token)) >= _MIN_CASE_FLIPS:
        return True
    return any(_mixes_letters_and_digits(part) for part in _PART_SPLIT.split(token))


def _mixes_letters_and_digits(part: str) -> bool:
    if len(part) < _MIN_MIXED_PART:
        return False
    return any(c.isdigit() for c in part) and any(c.isalpha() for c in part)


def secret_segments(host: str, segments: Sequence[str]) -> set[int]:
    """The indexes of ``segments`` (a URL path split on ``/``) that hold a credential."""
    found = {i for i, segment in enumerate(segments) if looks_random(segment)}
    for i, segment in enumerate(segments):
        if segment.lower() in _MARKERS:
            found.update(range(i + 1, len(segments)))
    for i in range(len(segments) - 2):
        if _SLACK_TEAM.match(segments[i]) and _SLACK_CHANNEL.match(segments[i + 1]):
            found.add(i + 2)
    named = [i for i, segment in enumerate(segments) if segment]
    if host.lower().endswith(_SLACK_HOSTS) and named:
        found.update(range(named[0] + 1, len(segments)))
    return {i for i in found if segments[i]}
