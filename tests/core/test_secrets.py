"""SECRET_KEY: Fernet keys that rotate, checked at load, and `python -m bot keygen`."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from bot.__main__ import main
from bot.core.secrets import InvalidToken, SecretBox
from bot.core.settings import SettingsError, settings_from_mapping

BASE = {"DISCORD_TOKEN": "discord-token-for-tests", "PRODUCER_API_TOKEN": "producer-token-for-tests"}


def test_rotation_first_key_encrypts_every_key_decrypts() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed_by_old = SecretBox(old).encrypt("server key 1234")
    both = SecretBox(f"{new},{old}")
    assert both.decrypt(sealed_by_old) == "server key 1234"
    resealed = both.rotate(sealed_by_old)
    assert SecretBox(new).decrypt(resealed) == "server key 1234"
    with pytest.raises(InvalidToken):
        SecretBox(old).decrypt(resealed)
    assert "server key" not in resealed


def test_a_malformed_key_is_a_configuration_error_that_does_not_echo_it() -> None:
    good = Fernet.generate_key().decode()
    with pytest.raises(SettingsError) as caught:
        settings_from_mapping({**BASE, "SECRET_KEY": f"{good},not-a-key-123"})
    assert "key number 2" in str(caught.value)
    assert "not-a-key-123" not in str(caught.value)
    assert settings_from_mapping({**BASE, "SECRET_KEY": good}).secret_key == good
    assert settings_from_mapping(BASE).secret_key is None


def test_keygen_prints_a_working_key_without_any_configuration(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    assert main(["keygen"]) == 0
    key = capsys.readouterr().out.strip()
    assert SecretBox(key).decrypt(SecretBox(key).encrypt("x")) == "x"
