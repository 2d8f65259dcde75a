"""Signed email tokens (notifier.sending.tokens): what makes a bounce believable."""

from __future__ import annotations

from notifier.sending import tokens


def test_a_signed_token_verifies_only_with_its_own_key_and_token() -> None:
    key, other = tokens.new_key(), tokens.new_key()
    signed = tokens.sign("c12m345e", key)
    token, signature = tokens.split(signed)
    assert token == "c12m345e" and signature is not None and len(signature) == 10
    assert signed == tokens.sign("c12m345e", key)  # the same on any resend: a stable Message-ID
    assert tokens.verify(token, signature, key)
    assert tokens.verify(token, signature.upper(), key)  # some servers upper-case local parts
    assert not tokens.verify(token, signature, other)
    assert not tokens.verify("c12m346e", signature, key)  # the next row's token with this signature
    assert not tokens.verify(token, None, key) and tokens.split("c12m345e") == ("c12m345e", None)
