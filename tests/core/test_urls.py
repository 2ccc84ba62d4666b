"""Backend URL parsing and masking."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from skybridge.core.errors import ConfigError
from skybridge.core.urls import BackendURL, mask_url, mask_urls_in


def test_parse_network_url() -> None:
    url = BackendURL.parse("redis://user:p%40ss@10.0.0.1:6380/2?ssl=true")
    assert (url.scheme, url.host, url.port, url.username, url.password) == (
        "redis",
        "10.0.0.1",
        6380,
        "user",
        "p@ss",
    )
    assert url.path == "/2"
    assert url.flag("ssl") is True
    assert url.flag("missing", default=True) is True


def test_path_urls_are_relative_or_absolute(tmp_path: Path) -> None:
    assert (
        BackendURL.parse("file://data/objects").location(base=tmp_path) == tmp_path / "data/objects"
    )
    assert BackendURL.parse("file:///srv/objects").location(base=tmp_path) == Path("/srv/objects")


def test_a_path_url_with_a_password_is_refused_masked() -> None:
    with pytest.raises(ConfigError) as info:
        BackendURL.parse("local://u:HUNTER2PW@dir/x").location()
    assert "HUNTER2PW" not in str(info.value)
    assert "local://u:***@dir/x" in str(info.value)
    assert BackendURL.parse("file:///srv/a@b/c").location() == Path("/srv/a@b/c")


@pytest.mark.parametrize("bad", ["no-scheme", "://nothing", "redis://host:notaport/0"])
def test_bad_urls_name_the_setting(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        BackendURL.parse(bad, setting="backends.kv")
    assert info.value.setting == "backends.kv"


def test_mask_url_leaves_plain_urls_alone() -> None:
    assert mask_url("sqlite:///.skybridge/kv.db") == "sqlite:///.skybridge/kv.db"


@given(password=st.text(alphabet=st.characters(min_codepoint=48, max_codepoint=122), min_size=6))
def test_mask_url_never_shows_the_password(password: str) -> None:
    from urllib.parse import quote

    quoted = quote(password, safe="")
    # a password that is part of the URL's own text ("postgr") would be found there anyway
    assume(quoted not in "postgresql://app:***@db:5432/x?sslpassword=***")
    url = f"postgresql://app:{quoted}@db:5432/x?sslpassword={quoted}"
    masked = mask_url(url)
    assert quoted not in masked
    assert "app:***@db:5432" in masked


def test_arn_locations_are_opaque() -> None:
    url = BackendURL.parse("sns://arn:aws:sns:us-east-1:123456789012:alerts?region=us-east-1")
    assert url.rest == "arn:aws:sns:us-east-1:123456789012:alerts"
    assert url.host is None
    assert url.port is None


@pytest.mark.parametrize(
    "url",
    [
        "redis://user:pa/ss@host:6379/0",
        "post gres://user:pw-x@db/app",
        "user:pw-x@db/app",
        "redis://user:p@ss@host/0",
    ],
)
def test_mask_url_handles_malformed_urls(url: str) -> None:
    masked = mask_url(url)
    for fragment in ("pa/ss", "pw-x", "p@ss"):
        assert fragment not in masked
    assert "user:***@" in masked


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite://", ":memory:"),
        ("sqlite:///:memory:", ":memory:"),
        ("sqlite:///.skybridge/kv.db", ".skybridge/kv.db"),
        ("sqlite:////var/lib/kv.db", "/var/lib/kv.db"),
    ],
)
def test_sqlite_paths_follow_sqlalchemy(url: str, path: str) -> None:
    assert BackendURL.parse(url).sqlite_path() == path


def test_ambiguous_sqlite_path_is_refused() -> None:
    with pytest.raises(ConfigError, match="three slashes"):
        BackendURL.parse("sqlite://rel.db").sqlite_path()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # Names of where a credential is, and counts, are shown; the credentials are not.
        (
            "openai://?max_tokens=300&api_key_env=OPENAI_KEY&api_key=sk-1",
            "openai://?max_tokens=300&api_key_env=OPENAI_KEY&api_key=***",
        ),
        ("x://h?key_file=/etc/k.pem&private_key=abc", "x://h?key_file=/etc/k.pem&private_key=***"),
        (
            "kafka://h:9092?sasl_password=pw&secret_id=s1",
            "kafka://h:9092?sasl_password=***&secret_id=s1",
        ),
        # An OCID names a resource (a vault's key); it grants nothing.
        (
            "oci-vault://ocid1.vault.oc1..v?key=ocid1.key.oc1..k&token=t",
            "oci-vault://ocid1.vault.oc1..v?key=ocid1.key.oc1..k&token=***",
        ),
    ],
)
def test_only_credentials_among_the_parameters_are_masked(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_every_url_in_a_longer_text_is_masked_and_the_rest_kept() -> None:
    table = (
        "[backends]\n"
        'pg = "postgresql://admin:first-4711@db/x"\n'
        'oci = "oci-vault://ocid1.vault.oc1..v?key=ocid1.key.oc1..k"\n'
        'redis = "redis://:second-4711@cache:6379/0?ssl=1"\n'
        "[[mappings]]\n"
        'name = "m"\n'
    )
    shown = mask_urls_in(table)
    assert "4711" not in shown
    assert shown == table.replace("first-4711", "***").replace("second-4711", "***")
    assert mask_urls_in("no url here") == "no url here"
    assert mask_urls_in("postgresql://u:p@w/rd@h/db") == mask_url("postgresql://u:p@w/rd@h/db")
