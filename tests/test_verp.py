"""Signed email tokens (notifier.verp): what makes a bounce believable."""

from __future__ import annotations

from notifier import verp


def test_a_signed_token_verifies_only_with_its_own_key_and_token() -> None:
    key, other = verp.new_key(), verp.new_key()
    signed = verp.sign("c12m345e", key)
    token, signature = verp.split(signed)
    assert token == "c12m345e" and signature is not None and len(signature) == 10
    assert signed == verp.sign("c12m345e", key)  # the same on any resend: a stable Message-ID
    assert verp.verify(token, signature, key)
    assert verp.verify(token, signature.upper(), key)  # some servers upper-case local parts
    assert not verp.verify(token, signature, other)
    assert not verp.verify("c12m346e", signature, key)  # the next row's token with this signature
    assert not verp.verify(token, None, key) and verp.split("c12m345e") == ("c12m345e", None)
