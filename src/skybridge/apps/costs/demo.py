"""Demo data for ``skybridge up --demo``: AWS and OCI exports in the report bucket
(``backends.objects``), ingested once, and a small embedded fleet to remediate.

Idempotent: the exports are built for the day the demo was first seeded (kept in
``<data>/demo-anchor``), so seeding again, even days later, finds the same files by hash.
"""

from __future__ import annotations

from datetime import date, timedelta

from skybridge.apps.costs.api import Context, open_costs
from skybridge.apps.costs.demo_data import aws_focus_csv, oci_cost_report_gz
from skybridge.core.private_files import private_dir

#: Keys under ``report_prefix`` (by default where OCI writes its cost reports).
AWS_KEY = "demo-aws-focus-export.csv"
OCI_KEY = "demo-oci-cost-report.csv.gz"
FLEET = (
    ("web-prod-1", "t3.large", {"environment": "prod", "cost_center": "CC-101"}, 48.0),
    ("ci-runner-dev", "t3.xlarge", {"environment": "dev", "cost_center": "CC-202"}, 35.0),
    ("batch-test", "m5.large", {"environment": "test"}, 2.0),
    ("scratch-dev", "t3.medium", {"environment": "dev", "cost_center": "CC-999"}, 1.0),
)


def _anchor(ctx: Context) -> date:
    with open_costs(ctx) as costs:
        marker = costs.folder / "demo-anchor"
    if marker.exists():
        return date.fromisoformat(marker.read_text().strip())
    last = date.today() - timedelta(days=1)
    private_dir(marker.parent)
    marker.write_text(last.isoformat())
    return last


def seed_demo(ctx: Context) -> None:
    """Put the demo exports in the bucket, ingest them, and launch the demo fleet."""
    last = _anchor(ctx)
    prefix = ctx.config.report_prefix
    with ctx.connect("objects") as objects:
        for key, body in ((AWS_KEY, aws_focus_csv(last)), (OCI_KEY, oci_cost_report_gz(last))):
            if not objects.exists(prefix + key):
                objects.put(prefix + key, body)
    with open_costs(ctx) as costs:
        list(costs.ingest_bucket())
        fleet = costs.fleets()
        if list(fleet) == ["default"] and fleet["default"].supports("launch"):
            default = fleet["default"]
            names = {i.name for i in default.instances()}
            for name, size, tags, cpu in FLEET:
                if name not in names:
                    default.launch(name, size, tags, utilisation=cpu)
