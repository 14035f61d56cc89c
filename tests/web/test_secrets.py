"""Secrets handled as secrets: keys 0600 in an absolute 0700 directory, tokens never on argv nor short.

Each attack is the review's (issue 11, "Secrets at rest and in process lists"): a key file others
can read, a relative key directory, a token passed with ``--set``, an empty or short token.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pydantic
import pytest
from typer.testing import CliRunner

from darkpool.cli import app as cli
from darkpool.custodian import create_custodian_app
from darkpool.errors import StorageError, ValidationError
from darkpool.operator import create_operator_app
from darkpool.web.settings import MIN_TOKEN_CHARS, CustodianSettings, OperatorSettings
from tests.operator.helpers import ADMIN, TOKEN, VAULT, settings

pytestmark = pytest.mark.attack
runner = CliRunner()
OPERATOR_TOKEN = "custodian-test-token"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _custodian_settings(tmp_path: Path, **extra: object) -> CustodianSettings:
    fields: dict[str, object] = {"vault": VAULT, "operator_token": OPERATOR_TOKEN, "log": str(tmp_path / "log.jsonl"),
                                 "key_dir": str(tmp_path / "keys"), "simulate": True,
                                 "cache_dir": str(tmp_path.parent / "fhe-cache"), "verifier_quorum": 0, **extra}
    return CustodianSettings(**fields)  # type: ignore[arg-type]


def test_start_when_new_operator_keys_creates_them_0600_in_a_0700_directory(tmp_path: Path) -> None:
    create_operator_app(settings(tmp_path))
    secrets_dir = tmp_path / "secrets"
    assert _mode(secrets_dir) == 0o700
    keys = sorted(p.name for p in secrets_dir.iterdir())
    assert keys == ["receipt-signing.key", "sealing.key"]
    assert all(_mode(secrets_dir / name) == 0o600 for name in keys)
    assert not list(tmp_path.glob("journal.db.*key")), "no key beside the journal any more"


def test_start_when_restarted_reuses_the_same_keys(tmp_path: Path) -> None:
    create_operator_app(settings(tmp_path))
    before = {p.name: p.read_bytes() for p in (tmp_path / "secrets").iterdir()}
    create_operator_app(settings(tmp_path))
    assert {p.name: p.read_bytes() for p in (tmp_path / "secrets").iterdir()} == before


@pytest.mark.parametrize("name", ["sealing.key", "receipt-signing.key"])
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_start_when_key_file_readable_by_group_or_others_refuses_naming_path_and_mode(
        tmp_path: Path, name: str, mode: int) -> None:
    create_operator_app(settings(tmp_path))
    key = tmp_path / "secrets" / name
    key.chmod(mode)
    with pytest.raises(StorageError, match=rf"{key}.*{mode:04o}"):
        create_operator_app(settings(tmp_path))


def test_start_when_secrets_dir_open_to_others_refuses(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir(mode=0o755)
    (tmp_path / "secrets").chmod(0o755)
    with pytest.raises(StorageError, match="0755"):
        create_operator_app(settings(tmp_path))


@pytest.mark.parametrize("secrets_dir", [None, "", "secrets", "./keys"])
def test_start_when_secrets_dir_missing_or_relative_refuses(tmp_path: Path, secrets_dir: str | None) -> None:
    config = OperatorSettings(journal=str(tmp_path / "journal.db"), vault=VAULT, token=TOKEN, admin_token=ADMIN,
                              secrets_dir=secrets_dir)
    with pytest.raises(ValidationError, match="secrets_dir"):
        create_operator_app(config)
    assert not (tmp_path / "journal.db").exists(), "refused before opening the journal"


@pytest.mark.parametrize("token", ["", "x", "y" * (MIN_TOKEN_CHARS - 1)])
def test_start_when_admin_token_empty_or_short_refuses(tmp_path: Path, token: str) -> None:
    with pytest.raises(ValidationError, match=f"admin_token must be at least {MIN_TOKEN_CHARS}"):
        create_operator_app(settings(tmp_path).model_copy(update={"admin_token": token}))


def test_start_when_custodian_token_short_refuses(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="custodian_token"):
        create_operator_app(settings(tmp_path, custodian_url="http://127.0.0.1:1", custodian_token="short"))


@pytest.mark.parametrize("token", ["", "short"])
def test_custodian_start_when_operator_token_empty_or_short_refuses(tmp_path: Path, token: str) -> None:
    with pytest.raises(ValidationError, match="operator_token"):
        create_custodian_app(_custodian_settings(tmp_path, operator_token=token))


@pytest.mark.parametrize("key_dir", [None, "keys"])
def test_custodian_start_when_key_dir_missing_or_relative_refuses(tmp_path: Path, key_dir: str | None) -> None:
    with pytest.raises(ValidationError, match="key_dir"):
        create_custodian_app(_custodian_settings(tmp_path, key_dir=key_dir))


def test_custodian_start_when_key_file_readable_by_others_refuses(tmp_path: Path) -> None:
    first = create_custodian_app(_custodian_settings(tmp_path / "a"))
    circuit_id = first.state.core.prepare(4, 4, 255)
    planted = tmp_path / "b" / "keys" / circuit_id / "keyset" / "secret.keys"
    planted.parent.mkdir(parents=True, mode=0o700)
    planted.parent.parent.chmod(0o700)
    planted.parent.parent.parent.chmod(0o700)
    planted.write_bytes(b"a custodian key set")
    planted.chmod(0o644)
    with pytest.raises(StorageError, match=rf"{planted}.*0644"):
        create_custodian_app(_custodian_settings(tmp_path / "b", shapes="4x4x255"))


def test_custodian_start_when_keys_generated_writes_them_0600_and_refuses_them_once_group_readable(
        tmp_path: Path) -> None:
    create_custodian_app(_custodian_settings(tmp_path, simulate=False, shapes="4x4x255"))
    keys = tmp_path / "keys"
    files = [p for p in keys.rglob("*") if p.is_file()]
    assert {p.name for p in files} == {"secret.keys", "eval.keys", "mask-signing.key", "round-wrap.key"}
    assert all(_mode(p) == 0o600 for p in files)
    assert all(_mode(p) == 0o700 for p in (keys, *keys.rglob("*")) if p.is_dir())
    secret = next(p for p in files if p.name == "secret.keys")
    secret.chmod(0o640)
    with pytest.raises(StorageError, match=rf"{secret}.*0640"):
        create_custodian_app(_custodian_settings(tmp_path, simulate=False, shapes="4x4x255"))


def test_settings_when_token_file_is_0600_reads_the_token(tmp_path: Path) -> None:
    path = tmp_path / "admin.token"
    path.write_text(ADMIN + "\n")
    path.chmod(0o600)
    config = OperatorSettings(admin_token_file=str(path), secrets_dir=str(tmp_path / "secrets"))
    assert config.admin_token == ADMIN
    assert ADMIN not in repr(config)


def test_settings_when_token_file_readable_by_others_refuses(tmp_path: Path) -> None:
    path = tmp_path / "operator.token"
    path.write_text(OPERATOR_TOKEN)
    path.chmod(0o644)
    with pytest.raises(StorageError, match=rf"{path}.*0644"):
        CustodianSettings(operator_token_file=str(path))


def test_settings_when_token_and_token_file_both_given_refuses(tmp_path: Path) -> None:
    path = tmp_path / "admin.token"
    path.write_text(ADMIN)
    path.chmod(0o600)
    with pytest.raises(pydantic.ValidationError, match="not both"):
        OperatorSettings(admin_token=ADMIN, admin_token_file=str(path))


@pytest.mark.parametrize(("command", "key"), [("serve", "admin_token"), ("serve", "custodian_token"),
                                              ("custodian", "operator_token")])
def test_cli_when_token_on_argv_refuses_and_names_environment(command: str, key: str) -> None:
    result = runner.invoke(cli, [command, "--set", f"{key}={ADMIN}"])
    assert result.exit_code == 2
    assert f"--set {key}" in result.stderr and "DARKPOOL_" in result.stderr and f"{key}_file" in result.stderr
    assert result.stdout == ""


def test_cli_when_token_address_and_token_file_on_argv_accepts_them(tmp_path: Path) -> None:
    """``token`` (the collateral address) and ``*_token_file`` (a path) are not secrets; start-up goes on."""
    path = tmp_path / "admin.token"
    path.write_text(ADMIN)
    path.chmod(0o600)
    result = runner.invoke(cli, ["serve", "--set", f"token={TOKEN}", "--set", f"admin_token_file={path}",
                                 "--set", "secrets_dir=relative"], env={"DARKPOOL_ADMIN_TOKEN": None})
    assert result.exit_code == 2
    assert "secrets_dir must be an absolute path" in result.stderr


def test_cli_when_token_from_environment_is_short_refuses(tmp_path: Path) -> None:
    result = runner.invoke(cli, ["serve", "--set", f"secrets_dir={tmp_path / 'secrets'}",
                                 "--set", f"journal={tmp_path / 'journal.db'}"], env={"DARKPOOL_ADMIN_TOKEN": "short"})
    assert result.exit_code == 2
    assert f"admin_token must be at least {MIN_TOKEN_CHARS} characters" in result.stderr
