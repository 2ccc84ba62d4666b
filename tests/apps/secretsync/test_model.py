"""The mapping table: loading TOML/YAML and error messages that say what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from skybridge.apps.secretsync import Binary, Deletion, load_table, parse_table, table_from_dict
from skybridge.core.errors import ValidationError

TOML = """
owner = "team-a/secretsync"

[backends]
aws = "aws-sm://us-east-1"
[backends.oci]
url = "oci-vault://ocid1.vault.oc1..aaa?key=ocid1.key.oc1..bbb"
credentials_from = { backend = "aws", secret = "oci/api-key" }

[[mappings]]
name = "db"
source = { backend = "aws", secret = "prod/db" }
target = { backend = "oci", secret = "prod-db" }
fields = ["username", "password"]
rename = { password = "db_password" }
deletion = "orphan"

[[mappings]]
name = "tls-key"
source.backend = "aws"
source.secret = "arn:aws:secretsmanager:us-east-1:012345678901:secret:tls-AbCdEf"
target = { backend = "oci", secret = "ocid1.vaultsecret.oc1..ccc" }
binary = "base64"
"""

YAML = """
owner: team-a/secretsync
backends:
  aws: aws-sm://us-east-1
  oci:
    url: oci-vault://ocid1.vault.oc1..aaa?key=ocid1.key.oc1..bbb
    credentials_from: {backend: aws, secret: oci/api-key}
mappings:
  - name: db
    source: {backend: aws, secret: prod/db}
    target: {backend: oci, secret: prod-db}
    fields: [username, password]
    rename: {password: db_password}
    deletion: orphan
  - name: tls-key
    source:
      backend: aws
      secret: "arn:aws:secretsmanager:us-east-1:012345678901:secret:tls-AbCdEf"
    target: {backend: oci, secret: ocid1.vaultsecret.oc1..ccc}
    binary: base64
"""


def test_toml_and_yaml_load_the_same_table(tmp_path: Path) -> None:
    (tmp_path / "t.toml").write_text(TOML)
    (tmp_path / "t.yaml").write_text(YAML)
    toml, yaml = load_table(tmp_path / "t.toml"), load_table(tmp_path / "t.yaml")
    assert toml == yaml
    db = toml.mapping("db")
    assert db.deletion is Deletion.ORPHAN
    assert db.rename == {"password": "db_password"}
    assert toml.mapping("tls-key").binary is Binary.BASE64
    assert toml.backends["oci"].credentials_from is not None


def _one(**changes: object) -> dict[str, object]:
    m: dict[str, object] = {
        "name": "db",
        "source": {"backend": "aws", "secret": "prod/db"},
        "target": {"backend": "oci", "secret": "prod-db"},
    }
    m.update(changes)
    return {
        "backends": {"aws": "aws-sm://us-east-1", "oci": "oci-vault://ocid1.vault.oc1..a"},
        "mappings": [m],
    }


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"fields": ["a..b"]},
            r"mappings\[0\] \(db\)\.fields: .*'a\.\.b' is not a JSON field path",
        ),
        ({"fields": []}, "fields is empty"),
        ({"fields": ["a", "a"]}, "lists a field twice"),
        (
            {"deletion": "shred"},
            r"mappings\[0\] \(db\)\.deletion: .*'retain', 'delete' or 'orphan'",
        ),
        ({"drift": "ignore"}, r"\.drift: .*'repair' or 'report'"),
        ({"target": {"backend": "oci", "secret": "prod db!"}}, r"A-Z a-z 0-9 - _ \."),
        ({"target": {"backend": "nowhere", "secret": "x"}}, "backend 'nowhere' is not in"),
        (
            {"target": {"backend": "nosuch://x", "secret": "x"}},
            r"no secrets backend for 'nosuch://' \(known: aws-sm, local, oci-vault\)",
        ),
        ({"fields": ["a"], "rename": {"b": "c"}}, "rename names fields not in fields: b"),
        ({"fields": ["a", "b"], "field_format": "raw"}, "exactly one field"),
        ({"fields": ["a"], "binary": "base64"}, "whole-value mappings"),
        ({"name": "bad name"}, r"\.name: use 1-64 characters"),
        ({"colour": "blue"}, r"\.colour: Extra inputs are not permitted"),
    ],
)
def test_validation_errors_say_what_to_fix(changes: dict[str, object], expected: str) -> None:
    with pytest.raises(ValidationError, match=expected):
        table_from_dict(_one(**changes))


def test_two_mappings_on_one_target_are_refused() -> None:
    data = _one()
    data["mappings"].append(  # type: ignore[attr-defined]
        {**data["mappings"][0], "name": "db2", "source": {"backend": "aws", "secret": "other"}}  # type: ignore[index]
    )
    with pytest.raises(ValidationError, match="write the same target"):
        table_from_dict(data)


def test_ocid_targets_skip_name_rules_and_urls_work_as_backends() -> None:
    table = table_from_dict(
        {
            "mappings": [
                {
                    "name": "x",
                    "source": {"backend": "local://.skybridge/secrets", "secret": "a/b"},
                    "target": {
                        "backend": "oci-vault://ocid1.vault.oc1..v",
                        "secret": "ocid1.vaultsecret.oc1..s",
                    },
                }
            ]
        }
    )
    assert table.mappings[0].target.secret.startswith("ocid1.")


def test_bad_syntax_and_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="not valid toml"):
        parse_table("mappings = [", "toml")
    (tmp_path / "t.ini").write_text("")
    with pytest.raises(ValidationError, match=r"\.toml, \.yaml"):
        load_table(tmp_path / "t.ini")


def test_transform_fingerprint_tracks_payload_settings() -> None:
    a = table_from_dict(_one(fields=["a"])).mappings[0]
    b = table_from_dict(_one(fields=["a"], deletion="delete")).mappings[0]
    c = table_from_dict(_one(fields=["a", "b"])).mappings[0]
    assert a.transform_fingerprint() == b.transform_fingerprint()
    assert a.transform_fingerprint() != c.transform_fingerprint()


def _on(backend: str) -> dict[str, object]:
    return {
        "mappings": [
            {
                "name": "x",
                "source": {"backend": backend, "secret": "a/b"},
                "target": {"backend": "local://.skybridge/target", "secret": "b"},
            }
        ]
    }


def test_a_name_the_table_lacks_is_taken_from_skybridge_toml() -> None:
    service = {"secrets": "aws-sm://eu-west-1", "unused": "local://elsewhere"}
    table = table_from_dict(_on("secrets"), service)
    assert table.backends["secrets"].url == "aws-sm://eu-west-1"
    assert set(table.backends) == {"secrets"}  # only what the mappings name
    own = {**_on("secrets"), "backends": {"secrets": "local://.skybridge/own"}}
    assert table_from_dict(own, service).backends["secrets"].url == "local://.skybridge/own"
    with pytest.raises(ValidationError, match="backend 'secrets' is not in"):
        table_from_dict(_on("secrets"), {})  # an explicit {}: borrow nothing


_BORROWING = """[backends]
src = "local://src"
[[mappings]]
name = "m"
source = { backend = "src", secret = "s" }
target = { backend = "secrets", secret = "t" }
"""


def test_without_service_backends_secrets_comes_from_the_settings_as_in_the_cli(
    skybridge_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/secretsync.md: ``SecretSync(load_table("secretsync.toml"), ...)`` with a table
    naming ``secrets``, the ``[backends] secrets`` of skybridge.toml."""
    path = skybridge_workdir / "secretsync.toml"
    path.write_text(_BORROWING)
    (skybridge_workdir / "skybridge.toml").write_text(
        '[backends]\nsecrets = "aws-sm://eu-west-1"\n'
    )
    spec = load_table(path).backends["secrets"]
    assert (spec.url, spec.setting) == ("aws-sm://eu-west-1", "backends.secrets")
    monkeypatch.setenv("SKYBRIDGE__BACKENDS__SECRETS", "local://vault")
    assert load_table(path).backends["secrets"].url == "local://vault"  # the env wins, as ever
    assert parse_table(_BORROWING).backends["secrets"].url == "local://vault"
    assert table_from_dict(_on("secrets")).backends["secrets"].url == "local://vault"


def test_settings_are_read_only_for_a_table_that_borrows_a_backend(
    skybridge_workdir: Path,
) -> None:
    from skybridge.core.errors import ConfigError

    (skybridge_workdir / "skybridge.toml").write_text("[backends\n")  # unreadable settings
    own = {**_on("secrets"), "backends": {"secrets": "local://own"}}
    assert table_from_dict(own).backends["secrets"].url == "local://own"
    with pytest.raises(ValidationError, match="backend 'elsewhere' is not in"):
        table_from_dict(_on("elsewhere"))  # only secrets is ever borrowed
    with pytest.raises(ConfigError, match=r"cannot read skybridge\.toml"):
        table_from_dict(_on("secrets"))


def test_a_borrowed_backend_that_cannot_connect_names_the_skybridge_toml_setting() -> None:
    from skybridge.apps.secretsync.backends import Backends
    from skybridge.core.errors import ConfigError

    table = table_from_dict(_on("secrets"), {"secrets": "oci-vault://x?config_file=/nowhere"})
    with pytest.raises(ConfigError, match=r"^backends\.secrets: "):
        Backends(table).get("secrets")
    own = {**_on("mine"), "backends": {"mine": "oci-vault://x?config_file=/nowhere"}}
    with pytest.raises(ConfigError, match=r"^secretsync\.backends\.mine: "):
        Backends(table_from_dict(own)).get("mine")
