"""The tag policy: required keys with allowed values, checked on taggable spend.

A key matches every provider's shape of it (``user:cost_center`` on AWS, ``Finance.CostCenter``
on OCI, ``cost-center`` free-form: see :func:`~.focus.norm_key`) and any ``aliases``. Taggable
spend is usage (``ChargeCategory = 'Usage'``): taxes, credits and purchases carry no resource
tags. A row is *untagged* when a required key is missing and *invalid* when its value is not
allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from skybridge.apps.costs.analytics import CostData, Period, dimension_sql
from skybridge.apps.costs.config import TagRule
from skybridge.apps.costs.focus import tag_sql
from skybridge.apps.costs.formats import lit

BREAKDOWNS = ("provider", "account", "compartment", "service")
WORST = 10
_BAD = "coalesce(sum(EffectiveCost) FILTER (tag_status <> 'ok'), 0)"


def rule_value_sql(rule: TagRule) -> str:
    """The rule's tag value on a row: its key, else the first alias present."""
    keys = [rule.key, *rule.aliases]
    return "coalesce(" + ", ".join(tag_sql(k) for k in keys) + ")"


def status_sql(rules: list[TagRule]) -> str:
    """``'untagged'``, ``'invalid'`` or ``'ok'`` for a row under ``rules``."""
    if not rules:
        return "'ok'"
    missing = " OR ".join(f"{rule_value_sql(r)} IS NULL" for r in rules)
    invalid = [
        f"{rule_value_sql(r)} NOT IN ({', '.join(lit(v) for v in r.allowed)})"
        for r in rules
        if r.allowed
    ]
    bad = " OR ".join(invalid) or "false"
    return f"CASE WHEN {missing} THEN 'untagged' WHEN {bad} THEN 'invalid' ELSE 'ok' END"


@dataclass
class Compliance:
    """How much taggable spend follows the policy."""

    period: Period
    rules: list[TagRule]
    taggable: Decimal
    untagged: Decimal
    invalid: Decimal
    by: dict[str, list[dict[str, Any]]]
    worst: list[dict[str, Any]]

    @property
    def compliant_share(self) -> float:
        if not self.taggable:
            return 1.0
        return float((self.taggable - self.untagged - self.invalid) / self.taggable)

    def _share(self, part: Decimal) -> float:
        return float(part / self.taggable) if self.taggable else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period.to_dict(),
            "policy": [r.model_dump() for r in self.rules],
            "taggable_cost": float(self.taggable),
            "untagged_cost": float(self.untagged),
            "invalid_cost": float(self.invalid),
            "untagged_share": self._share(self.untagged),
            "invalid_share": self._share(self.invalid),
            "compliant_share": self.compliant_share,
            "by": self.by,
            "worst_offenders": self.worst,
        }


def compliance(data: CostData, rules: list[TagRule], period: Period) -> Compliance:
    """The compliance report of ``period`` under ``rules``."""
    base = (
        f"SELECT *, {status_sql(rules)} AS tag_status FROM costs "
        f"WHERE {period.where()} AND ChargeCategory = 'Usage'"
    )
    data.con.execute(f"CREATE OR REPLACE TEMP VIEW tagged AS {base}")
    totals = data.rows(
        """SELECT coalesce(sum(EffectiveCost), 0),
                  coalesce(sum(EffectiveCost) FILTER (tag_status = 'untagged'), 0),
                  coalesce(sum(EffectiveCost) FILTER (tag_status = 'invalid'), 0) FROM tagged"""
    )[0]
    by = {dim: _breakdown(data, dim) for dim in BREAKDOWNS}
    worst = data.records(
        f"""SELECT coalesce(ResourceId, '(no resource id)') AS resource, ProviderName AS provider,
                   ServiceName AS service, {dimension_sql("account")} AS account,
                   any_value(tag_status) AS status, sum(EffectiveCost)::DOUBLE AS cost
            FROM tagged WHERE tag_status <> 'ok'
            GROUP BY resource, provider, service, account
            ORDER BY cost DESC, resource LIMIT {WORST}"""
    )
    return Compliance(
        period, rules, Decimal(totals[0]), Decimal(totals[1]), Decimal(totals[2]), by, worst
    )


def _breakdown(data: CostData, dimension: str) -> list[dict[str, Any]]:
    return data.records(
        f"""SELECT coalesce(CAST({dimension_sql(dimension)} AS VARCHAR), '(none)') AS value,
                   sum(EffectiveCost)::DOUBLE AS cost,
                   ({_BAD})::DOUBLE AS noncompliant_cost,
                   CASE WHEN sum(EffectiveCost) > 0 THEN ({_BAD} / sum(EffectiveCost))::DOUBLE
                        ELSE 0 END AS noncompliant_share
            FROM tagged GROUP BY ALL HAVING sum(EffectiveCost) <> 0
            ORDER BY noncompliant_cost DESC, value LIMIT {WORST}"""
    )


def instance_compliance(tags: dict[str, str], rules: list[TagRule]) -> str | None:
    """Why an instance breaks the policy (``None``: it follows it), from its own tags."""
    from skybridge.apps.costs.focus import norm_key

    normalised = {norm_key(k): v for k, v in tags.items() if v}
    for rule in rules:
        value = next(
            (
                normalised[norm_key(k)]
                for k in (rule.key, *rule.aliases)
                if norm_key(k) in normalised
            ),
            None,
        )
        if value is None:
            return f"no {rule.key} tag"
        if rule.allowed and value not in rule.allowed:
            return f"{rule.key}={value!r} is not one of {', '.join(rule.allowed)}"
    return None
