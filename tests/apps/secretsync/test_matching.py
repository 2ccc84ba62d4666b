"""Which mappings an event concerns: names, partial ARNs and full ARNs (AWS adds ``-`` and 6
random characters to the name in a full ARN, and a name may itself end that way)."""

from __future__ import annotations

from typing import Any

import pytest

from skybridge.apps.secretsync import table_from_dict
from skybridge.apps.secretsync.events import SecretEvent, read_event
from skybridge.apps.secretsync.matching import hint_conflicts, match_mappings, source_match

PREFIX = "arn:aws:secretsmanager:us-east-1:012345678901:secret:"


def _written(arn: str, name: str | None = None) -> SecretEvent:
    """An event whose ARN AWS wrote (Secret Label Updated ``resources``): a full ARN."""
    return SecretEvent(secret=arn, name=name, arn_is_full=True)


def _given(secret: str) -> SecretEvent:
    """An event whose identifier a caller gave (``requestParameters.secretId``)."""
    return SecretEvent(secret=secret)


@pytest.mark.parametrize(
    ("source", "event", "expected"),
    [
        # finding 5: a partial ARN or a name matches the full ARN of the event
        (PREFIX + "prod/db", _written(PREFIX + "prod/db-AbCdEf"), "exact"),
        ("prod/db", _written(PREFIX + "prod/db-AbCdEf"), "exact"),
        (PREFIX + "prod/db-AbCdEf", _written(PREFIX + "prod/db-AbCdEf"), "exact"),
        ("prod/db", _written(PREFIX + "prod/db-AbCdEf", name="prod/db"), "exact"),
        # a hyphenated name is never cut: prod/db is not prod/db-backup
        ("prod/db", _written(PREFIX + "prod/db-backup-AbCdEf"), None),
        (PREFIX + "prod/db", _written(PREFIX + "prod/db-backup-AbCdEf"), None),
        ("prod/db-backup", _written(PREFIX + "prod/db-backup-AbCdEf"), "exact"),
        (PREFIX + "prod/db-backup", _written(PREFIX + "prod/db-backup-AbCdEf"), "exact"),
        # a name that itself ends in -XXXXXX
        ("app/key-AbCdEf", _written(PREFIX + "app/key-AbCdEf"), None),  # that is app/key
        ("app/key-AbCdEf", _written(PREFIX + "app/key-AbCdEf-XyZ123"), "exact"),
        ("app/key", _written(PREFIX + "app/key-AbCdEf-XyZ123"), None),
        # full ARNs differ: another secret of the same name (deleted and created again)
        (PREFIX + "prod/db-ZzZzZz", _written(PREFIX + "prod/db-AbCdEf"), None),
        # another region or account is not ours
        (
            "arn:aws:secretsmanager:eu-west-1:012345678901:secret:prod/db",
            _written(PREFIX + "prod/db-AbCdEf"),
            None,
        ),
        (
            "arn:aws:secretsmanager:us-east-1:999999999999:secret:prod/db-AbCdEf",
            _written(PREFIX + "prod/db-AbCdEf"),
            None,
        ),
        # identifiers a caller gave: exact when literally equal, possible when read as full
        ("prod/db", _given("prod/db"), "exact"),
        ("prod/db", _given(PREFIX + "prod/db"), "exact"),
        (PREFIX + "prod/db", _given("prod/db"), "exact"),
        ("prod/db", _given(PREFIX + "prod/db-AbCdEf"), "possible"),
        (PREFIX + "prod/db", _given(PREFIX + "prod/db-AbCdEf"), "possible"),
        (PREFIX + "prod/db-AbCdEf", _given(PREFIX + "prod/db"), "possible"),
        (PREFIX + "prod/db-AbCdEf", _given("prod/db"), "possible"),
        ("prod/db", _given(PREFIX + "prod/db-AbCdE"), None),  # 5 characters: no suffix
        ("prod/db", _given(PREFIX + "prod/db-AbCd_f"), None),  # not alphanumeric
        ("prod/db", _given("prod/db-AbCdEf"), None),  # a name is never cut
        ("prod", _given("prod/db"), None),
    ],
)
def test_source_match(source: str, event: SecretEvent, expected: str | None) -> None:
    assert source_match(source, event) == expected


def _mapping(name: str, source: str, **target: Any) -> dict[str, Any]:
    return {
        "name": name,
        "source": {"backend": "aws", "secret": source},
        "target": {"backend": target.get("backend", "oci"), "secret": target.get("secret", name)},
    }


OCI = (
    "oci-vault://ocid1.vault.oc1..v?key=ocid1.key.oc1..k&compartment=ocid1.compartment.oc1..c"
    "&region=us-ashburn-1"
)


def _table(*mappings: dict[str, Any]) -> Any:
    backends = {"aws": "aws-sm://us-east-1", "oci": OCI, "dst": "local://dst"}
    return table_from_dict({"owner": "t", "backends": backends, "mappings": list(mappings)})


def test_an_exact_match_wins_over_a_possible_one() -> None:
    # The article's aws_secret_arn holds whatever the caller passed: here the partial ARN of
    # prod/db-backup, which could also be the full ARN of prod/db (suffix "backup").
    table = _table(_mapping("db", "prod/db"), _mapping("backup", "prod/db-backup"))
    event = read_event({"detail": {"aws_secret_arn": PREFIX + "prod/db-backup"}})
    assert isinstance(event, SecretEvent)
    assert [m.name for m in match_mappings(table, event)] == ["backup"]
    only_db = _table(_mapping("db", "prod/db"))
    assert [m.name for m in match_mappings(only_db, event)] == ["db"]  # possible: a re-read


def test_every_mapping_of_the_secret_matches() -> None:
    table = _table(
        _mapping("by-name", "prod/db"),
        _mapping("by-partial", PREFIX + "prod/db", secret="db-2"),
        _mapping("by-full", PREFIX + "prod/db-AbCdEf", secret="db-3"),
        _mapping("other", "prod/db-backup"),
    )
    event = _written(PREFIX + "prod/db-AbCdEf", name="prod/db")
    assert [m.name for m in match_mappings(table, event)] == ["by-name", "by-partial", "by-full"]


def test_hints_that_contradict_the_table_are_named() -> None:
    table = _table(
        _mapping("by-name", "a"),
        _mapping("by-ocid", "b", secret="ocid1.vaultsecret.oc1..s"),
        _mapping("local", "c", backend="dst"),
    )
    agreeing = {
        "oci_vault_id": "ocid1.vault.oc1..v",
        "oci_key_id": "ocid1.key.oc1..k",
        "oci_secret_ocid": "ocid1.vaultsecret.oc1..s",
    }
    by_name, by_ocid, local = table.mappings
    assert hint_conflicts(table, by_ocid, agreeing) == {}
    # the target is named by name: only the vault knows its OCID, so it cannot contradict
    assert hint_conflicts(table, by_name, agreeing) == {}
    wrong = {**agreeing, "oci_vault_id": "ocid1.vault.oc1..other"}
    assert set(hint_conflicts(table, by_ocid, wrong)) == {"oci_vault_id"}
    assert "ocid1.vault.oc1..v" in hint_conflicts(table, by_ocid, wrong)["oci_vault_id"]
    other_secret = {**agreeing, "oci_secret_ocid": "ocid1.vaultsecret.oc1..t"}
    assert set(hint_conflicts(table, by_ocid, other_secret)) == {"oci_secret_ocid"}
    assert set(hint_conflicts(table, local, agreeing)) == set(agreeing)
    assert "not OCI Vault" in hint_conflicts(table, local, agreeing)["oci_key_id"]


def _partial(full_arn: str) -> str:
    return full_arn[:-7]


@pytest.mark.moto
@pytest.mark.oci
def test_partial_arn_mapping_syncs_on_the_label_updated_event(cloud: Any) -> None:
    """Finding 5: the event's ``resources`` hold the full ARN, the mapping the partial one."""
    version, event = cloud.rotate("db", "v1")
    full = event["resources"][0]
    assert full.startswith("arn:")
    assert full[-7] == "-"
    mapping = {**cloud.mapping("db"), "source": {"backend": "aws", "secret": _partial(full)}}
    sync = cloud.engine(mapping)
    [outcome] = sync.sync_event(event)
    assert (outcome.mapping, outcome.action, outcome.source_version) == ("db", "created", version)
    # the CloudTrail shape, with the secret named by the caller's partial ARN, matches too
    v2, _label = cloud.rotate("db", "v2")
    trail = {
        "source": "aws.secretsmanager",
        "detail-type": "AWS API Call via CloudTrail",
        "detail": {
            "eventName": "PutSecretValue",
            "requestParameters": {"secretId": _partial(full)},
            "responseElements": {"arn": full, "name": cloud.name("db"), "versionId": v2},
        },
    }
    assert [o.action for o in sync.sync_event(trail)] == ["updated"]


@pytest.mark.moto
@pytest.mark.oci
def test_hyphenated_names_are_told_apart(cloud: Any) -> None:
    """``<x>-db`` and ``<x>-db-backup``: the second's name ends in ``-`` and 6 characters."""
    _, db_event = cloud.rotate("db", "db-value")
    _, backup_event = cloud.rotate("db-backup", "backup-value")
    db_partial = _partial(db_event["resources"][0])
    sync = cloud.engine(
        {**cloud.mapping("db"), "source": {"backend": "aws", "secret": db_partial}},
        cloud.mapping("db-backup"),
    )
    assert [(o.mapping, o.action) for o in sync.sync_event(backup_event)] == [
        ("db-backup", "created")
    ]
    assert [(o.mapping, o.action) for o in sync.sync_event(db_event)] == [("db", "created")]
    # the article's event with the partial ARN of db-backup: db-backup exactly, not db
    article = {"detail": {"aws_secret_arn": _partial(backup_event["resources"][0])}}
    assert [o.mapping for o in sync.sync_event(article)] == ["db-backup"]
