"""``skybridge costs ...``: ingest, report, tags, budgets, forecast, anomalies, remediate.

Exit codes: 0 ok; 1 a file had rejected rows, an object of the report bucket was rejected (the
others were ingested), an alert could not be sent or a remediation action failed; 2 bad input (a
date, a dimension, a file that is no known export, a setting).
"""

from skybridge.apps.costs import cli_data, cli_policy
from skybridge.apps.costs.cli_common import costs_app

__all__ = ["cli_data", "cli_policy", "costs_app"]
