"""Project secrets are sealed at rest and open only with their key."""

from __future__ import annotations

import pytest

from capstan.secrets import SecretBox, SecretsUnreadable


def test_sealed_values_hide_the_secret_and_open_again():
    box = SecretBox(SecretBox.generate_key())
    sealed = box.seal({"api_token": "s3cret", "nested": {"a": 1}})
    assert set(sealed) == {"api_token", "nested"}
    assert "s3cret" not in str(sealed)
    assert box.open(sealed) == {"api_token": "s3cret", "nested": {"a": 1}}


def test_a_wrong_or_missing_key_is_an_error_not_garbage():
    sealed = SecretBox(SecretBox.generate_key()).seal({"api_token": "x"})
    with pytest.raises(SecretsUnreadable, match="cannot be opened"):
        SecretBox(SecretBox.generate_key()).open(sealed)
    with pytest.raises(SecretsUnreadable, match="not set"):
        SecretBox(None).open(sealed)


def test_without_a_key_values_are_kept_as_given():
    box = SecretBox(None)
    assert box.seal({"api_token": "plain"}) == {"api_token": "plain"}
    assert box.open({"api_token": "plain"}) == {"api_token": "plain"}
