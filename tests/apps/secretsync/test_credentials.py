"""OCI credentials kept in a secret: the SDK's key names and the article's."""

from __future__ import annotations

import json

import pytest

from skybridge.apps.secretsync.backends import oci_config_from_json
from skybridge.core.errors import ConfigError

PEM = "-----BEGIN PRIVATE KEY-----\nX\n-----END PRIVATE KEY-----"
WHERE = "secret aws:internal/oci-sync-credentials"


def test_the_articles_credentials_secret_is_accepted() -> None:
    article = {  # Step 4: internal/oci-sync-credentials
        "tenancy_ocid": "ocid1.tenancy.oc1..a",
        "user_ocid": "ocid1.user.oc1..b",
        "fingerprint": "aa:bb",
        "private_key": PEM,
        "region": "us-ashburn-1",
    }
    config = oci_config_from_json(json.dumps(article), WHERE)
    assert config == {
        "tenancy": "ocid1.tenancy.oc1..a",
        "user": "ocid1.user.oc1..b",
        "fingerprint": "aa:bb",
        "key_content": PEM,
        "region": "us-ashburn-1",
        "key_file": None,
    }


def test_the_sdk_names_still_work_and_agreeing_aliases_are_fine() -> None:
    sdk = {
        "tenancy": "ocid1.tenancy.oc1..a",
        "user": "ocid1.user.oc1..b",
        "fingerprint": "aa:bb",
        "key_content": PEM,
        "region": "us-ashburn-1",
    }
    assert oci_config_from_json(json.dumps(sdk), WHERE)["user"] == "ocid1.user.oc1..b"
    both = {**sdk, "user_ocid": "ocid1.user.oc1..b", "private_key": PEM}
    config = oci_config_from_json(json.dumps(both), WHERE)
    assert "user_ocid" not in config
    assert "private_key" not in config


def test_conflicting_or_missing_keys_are_named() -> None:
    clash = {"user": "ocid1.user.oc1..b", "user_ocid": "ocid1.user.oc1..c"}
    with pytest.raises(ConfigError, match="both user and user_ocid"):
        oci_config_from_json(json.dumps(clash), WHERE)
    with pytest.raises(ConfigError, match="lack user, tenancy") as caught:
        oci_config_from_json(
            json.dumps({"fingerprint": "f", "private_key": PEM, "region": "r"}), WHERE
        )
    assert "tenancy_ocid" in str(caught.value)  # the hint names the article's keys too
    assert PEM not in str(caught.value)
