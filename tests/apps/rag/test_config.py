"""``[rag]`` settings: a refused value is named by its own key and variable, and stops the CLI
with exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from skybridge.apps.rag.config import RagConfig
from skybridge.cli import build_cli
from skybridge.core.config import load_settings
from skybridge.core.errors import ConfigError


def test_an_overlap_too_large_names_chunk_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYBRIDGE__RAG__CHUNK_TOKENS", "200")
    monkeypatch.setenv("SKYBRIDGE__RAG__CHUNK_OVERLAP", "150")
    with pytest.raises(ConfigError) as info:
        load_settings(sections={"rag": RagConfig})
    assert info.value.setting == "rag.chunk_overlap"
    assert info.value.message == "chunk_overlap (150) must be less than half of chunk_tokens (200)"
    assert "SKYBRIDGE__RAG__CHUNK_OVERLAP" in str(info.value.hint)
    monkeypatch.setenv("SKYBRIDGE__RAG__CHUNK_OVERLAP", "99")
    assert load_settings(sections={"rag": RagConfig}).section("rag") is not None


def test_both_weights_zero_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYBRIDGE__RAG__DENSE_WEIGHT", "0")
    monkeypatch.setenv("SKYBRIDGE__RAG__BM25_WEIGHT", "0")
    with pytest.raises(ConfigError, match="dense_weight and bm25_weight cannot both be 0"):
        load_settings(sections={"rag": RagConfig})


def test_claim_times_are_settings_with_their_former_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = RagConfig()
    assert (defaults.claim_seconds, defaults.ingest_wait_seconds) == (60.0, 300.0)
    assert defaults.event_wait_seconds == 30.0
    monkeypatch.setenv("SKYBRIDGE__RAG__CLAIM_SECONDS", "12")
    monkeypatch.setenv("SKYBRIDGE__RAG__INGEST_WAIT_SECONDS", "0")
    monkeypatch.setenv("SKYBRIDGE__RAG__EVENT_WAIT_SECONDS", "900")
    config = load_settings(sections={"rag": RagConfig}).section("rag")
    assert isinstance(config, RagConfig)
    assert (config.claim_seconds, config.ingest_wait_seconds, config.event_wait_seconds) == (
        12.0,
        0.0,
        900.0,
    )


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("claim_seconds", "1", "greater than or equal to 4"),
        ("claim_seconds", "7200", "less than or equal to 3600"),
        ("ingest_wait_seconds", "-1", "greater than or equal to 0"),
        ("ingest_wait_seconds", '"soon"', "a valid number"),
        ("event_wait_seconds", "901", "less than or equal to 900"),
    ],
)
def test_a_bad_claim_time_stops_the_cli_with_exit_2_naming_it(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, key: str, value: str, words: str
) -> None:
    (workdir / "skybridge.toml").write_text(f"[rag]\n{key} = {value}\n")
    in_file = CliRunner().invoke(build_cli(), ["rag", "status"])
    assert in_file.exit_code == 2, in_file.output
    assert f"rag.{key}: Input should be {words}" in in_file.stderr
    assert f"SKYBRIDGE__RAG__{key.upper()}" in in_file.stderr
    assert "Traceback" not in in_file.stderr
    (workdir / "skybridge.toml").unlink()
    monkeypatch.setenv(f"SKYBRIDGE__RAG__{key.upper()}", value.strip('"'))
    in_env = CliRunner().invoke(build_cli(), ["rag", "status"])
    assert in_env.exit_code == 2, in_env.output
    assert f"rag.{key}: Input should be {words}" in in_env.stderr
