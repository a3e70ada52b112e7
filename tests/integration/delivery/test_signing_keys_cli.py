"""`streamstack keys signing` create/add/list/revoke against a SQLite catalog in tmp."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from streamstack.cli.signing import signing_app
from streamstack.settings import get_settings


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("STREAMSTACK_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_create_prints_the_id_alone_and_writes_a_private_key(runner, tmp_path):
    out = tmp_path / "private.pem"
    result = runner.invoke(signing_app, ["create", "--out", str(out), "--name", "web"])
    assert result.exit_code == 0, result.output
    key_id = result.stdout.strip()
    assert key_id.startswith("K") and len(key_id) == 14 and "\n" not in key_id
    assert out.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert runner.invoke(signing_app, ["create", "--out", str(out)]).exit_code == 1


def test_add_list_revoke(runner, tmp_path):
    public = tmp_path / "public.pem"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1))
    added = runner.invoke(signing_app, ["add", "--public-key", str(public), "--name", "cloudfront"])
    assert added.exit_code == 0, added.output
    key_id = added.stdout.strip()
    listed = runner.invoke(signing_app, ["list"])
    assert key_id in listed.stdout and "cloudfront" in listed.stdout
    assert runner.invoke(signing_app, ["revoke", key_id]).exit_code == 0
    assert runner.invoke(signing_app, ["revoke", "KNOSUCHKEY0000"]).exit_code == 1


def test_add_rejects_what_cloudfront_would(runner, tmp_path):
    weak = tmp_path / "weak.pem"
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    weak.write_bytes(
        small.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert runner.invoke(signing_app, ["add", "--public-key", str(weak)]).exit_code == 2
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    assert runner.invoke(signing_app, ["add", "--public-key", str(garbage)]).exit_code == 2
