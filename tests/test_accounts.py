"""People and what they may do: argon2 passwords, lockout after repeated failures, tokens kept only as
hashes and dead once revoked or their user disabled, and the role × action table declared once."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select

from notifier.accounts.permissions import ALLOWED, Action, authorize, permissions_markdown
from notifier.accounts.users import (
    LOCK_AFTER,
    add_user,
    identity_for_token,
    issue_token,
    reset_password,
    set_disabled,
    set_roles,
    sign_in,
)
from notifier.config import PROJECT_ROOT
from notifier.errors import AccessDeniedError, InputError, LoginRefusedError
from notifier.models import Role
from notifier.store import Store
from notifier.store.schema import api_tokens, audit_log, users

PASSWORD = "a long enough passphrase"


def test_passwords_are_argon2id_hashes_and_weak_ones_are_refused(store: Store) -> None:
    add_user(store, "Alice", display_name="Alice Martin", roles=["comms"], password=PASSWORD, actor="ada")
    with store.connect() as conn:
        row = conn.execute(select(users)).one()
    assert row.username == "alice" and row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash
    for weak, says in (("short", "at least 12"), ("bob-is-the-best-1", "user name")):
        with pytest.raises(InputError, match=says):
            add_user(store, "bob", display_name="", roles=["comms"], password=weak, actor="ada")
    with pytest.raises(InputError, match="unknown role 'boss'"):
        add_user(store, "carol", display_name="", roles=["boss"], password=PASSWORD, actor="ada")
    with pytest.raises(InputError, match="exists already"):
        add_user(store, "ALICE", display_name="", roles=["comms"], password=PASSWORD, actor="ada")
    assert sign_in(store, " Alice ", PASSWORD, source="test").username == "alice"


def test_five_wrong_passwords_lock_the_user_and_the_answer_never_says_which_part_was_wrong(
    store: Store,
) -> None:
    add_user(store, "alice", display_name="", roles=["comms"], password=PASSWORD, actor="ada")
    answers = set()
    for _ in range(LOCK_AFTER):
        with pytest.raises(LoginRefusedError) as refused:
            sign_in(store, "alice", "wrong password here", source="10.0.0.9")
        answers.add(str(refused.value))
    with pytest.raises(LoginRefusedError) as locked:
        sign_in(store, "alice", PASSWORD, source="10.0.0.9")  # the right password, but locked
    with pytest.raises(LoginRefusedError) as nobody:
        sign_in(store, "mallory", PASSWORD, source="10.0.0.9")
    answers |= {str(locked.value), str(nobody.value)}
    assert len(answers) == 1  # one answer for all: no user enumeration
    with store.connect() as conn:
        reasons = [
            r.detail["reason"]
            for r in conn.execute(select(audit_log).where(audit_log.c.action == "user.sign_in_refused"))
        ]
    assert reasons == ["wrong password"] * (LOCK_AFTER - 1) + [
        "wrong password, now locked",
        reasons[LOCK_AFTER],
        "unknown user",
    ]
    assert reasons[LOCK_AFTER].startswith("locked until")
    reset_password(store, "alice", "another long passphrase", actor="ada")  # lifts the lock
    assert sign_in(store, "alice", "another long passphrase", source="t").username == "alice"


def test_guesses_sent_in_parallel_get_no_more_tries_than_guesses_one_by_one(store: Store) -> None:
    add_user(store, "alice", display_name="", roles=["comms"], password=PASSWORD, actor="ada")
    guesses = [f"wrong guess number {n}" for n in range(11)] + [PASSWORD]

    def guess(password: str) -> str:
        try:
            return sign_in(store, "alice", password, source="10.0.0.9").username
        except LoginRefusedError:
            return "refused"

    with ThreadPoolExecutor(max_workers=len(guesses)) as pool:
        answers = list(pool.map(guess, guesses))
    with store.connect() as conn:
        reasons = [
            r.detail["reason"]
            for r in conn.execute(select(audit_log).where(audit_log.c.action == "user.sign_in_refused"))
        ]
    checked = [r for r in reasons if r.startswith("wrong password")]
    # At most five passwords were checked (the right one may be among them, then it signs in).
    assert len(checked) + answers.count("alice") <= LOCK_AFTER
    assert len(reasons) + answers.count("alice") == len(guesses)
    assert all(r.startswith(("wrong password", "locked until")) for r in reasons)


def test_tokens_are_kept_as_hashes_and_die_with_revocation_or_a_disabled_user(store: Store) -> None:
    add_user(store, "ada", display_name="", roles=["admin"], password=PASSWORD, actor="bootstrap")
    add_user(store, "bot", display_name="", roles=["comms"], password=None, actor="ada")
    token = issue_token(store, "bot", label="ci", actor="ada")
    assert re.fullmatch(r"ntf_[A-Za-z0-9_-]{43}", token)
    with store.connect() as conn:
        stored = conn.execute(select(api_tokens.c.token_hash)).scalar_one()
    assert token not in stored and len(stored) == 64
    assert identity_for_token(store, token).roles == frozenset({Role.COMMS})
    with pytest.raises(LoginRefusedError):
        sign_in(store, "bot", "", source="t")  # token only: no password sign-in
    with pytest.raises(InputError, match="cannot disable yourself"):
        set_disabled(store, "ada", True, actor="ada")
    set_disabled(store, "bot", True, actor="ada")
    with pytest.raises(AccessDeniedError, match="not a valid token"):
        identity_for_token(store, token)
    set_disabled(store, "bot", False, actor="ada")
    with pytest.raises(AccessDeniedError):  # revoked for good: enabling again needs a new token
        identity_for_token(store, token)
    assert identity_for_token(store, issue_token(store, "bot", label="new", actor="ada")).username == "bot"


def test_roles_allow_exactly_their_actions(store: Store) -> None:
    viewer = add_user(store, "val", display_name="", roles=["viewer"], password=None, actor="ada")
    admin = add_user(store, "ada", display_name="", roles=["admin"], password=None, actor="ada")
    assert authorize(viewer, Action.CAMPAIGN_VIEW) is viewer
    for action in (
        Action.NOTICE_DECIDE,
        Action.CAMPAIGN_CONTROL,
        Action.CONTACTS_REVEAL,
        Action.USERS_MANAGE,
    ):
        with pytest.raises(AccessDeniedError, match=f"val may not {re.escape(action.value)}"):
            authorize(viewer, action)
    with pytest.raises(AccessDeniedError, match="needs the role legal"):
        authorize(admin, Action.NOTICE_DECIDE)  # least privilege: an admin approves nothing
    set_roles(store, "ada", ["admin", "legal"], actor="ada")
    with store.connect() as conn:
        changed = conn.execute(select(audit_log).where(audit_log.c.action == "user.roles")).one()
    assert changed.detail == {"from": ["admin"], "to": ["admin", "legal"]}
    assert {action for action, roles in ALLOWED.items() if Role.VIEWER in roles} == {
        Action.INCIDENT_VIEW,
        Action.NOTICE_REVIEW,
        Action.CAMPAIGN_VIEW,
    }


def test_the_docs_carry_the_role_table_the_code_enforces() -> None:
    docs = Path(PROJECT_ROOT, "docs", "access.md").read_text(encoding="utf-8")
    assert permissions_markdown() in docs


def test_the_last_active_admin_stays_and_unknown_names_never_reach_the_audit_log(store: Store) -> None:
    add_user(store, "ada", display_name="", roles=["admin"], password=PASSWORD, actor="bootstrap")
    add_user(store, "bob", display_name="", roles=["comms"], password=PASSWORD, actor="ada")
    with pytest.raises(InputError, match="only active admin"):
        set_roles(store, "ada", ["comms"], actor="ada")
    set_roles(store, "bob", ["comms", "admin"], actor="ada")
    set_roles(store, "ada", ["comms"], actor="bob")  # another admin exists now
    with pytest.raises(InputError, match="only active admin"):
        set_disabled(store, "bob", True, actor="ada")
    with pytest.raises(LoginRefusedError):
        sign_in(store, "my secret passphrase", "oops", source="t")  # a password typed as the name
    with store.connect() as conn:
        refused = conn.execute(select(audit_log).where(audit_log.c.action == "user.sign_in_refused")).one()
    assert (refused.actor, refused.subject) == ("unknown", "user:unknown")
    assert "passphrase" not in str(refused.detail) and len(refused.detail["name_sha256"]) == 16


def test_tokens_expire_are_revoked_one_by_one_and_all_end_when_trust_changes(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from sqlalchemy import update
    from typer.testing import CliRunner

    from notifier.accounts.sessions import session_identity, start_session
    from notifier.accounts.users import list_tokens, revoke_token
    from notifier.cli.app import app

    add_user(store, "ada", display_name="", roles=["admin"], password=PASSWORD, actor="bootstrap")
    bot = add_user(store, "bot", display_name="", roles=["comms", "support"], password=PASSWORD, actor="ada")
    laptop = issue_token(store, "bot", label="laptop", actor="ada")
    ci = issue_token(store, "bot", label="ci runner", actor="ada", valid_for=timedelta(days=2))
    identity_for_token(store, ci)
    tokens = {t.label: t for t in list_tokens(store, "bot")}
    assert tokens["laptop"].last_used_at is None and tokens["ci runner"].last_used_at is not None
    assert tokens["laptop"].expires_at - tokens["laptop"].created_at == timedelta(days=90)  # type: ignore[operator]
    assert tokens["ci runner"].expires_at - tokens["ci runner"].created_at == timedelta(days=2)  # type: ignore[operator]

    # One token revoked; the other goes on working. Through the CLI, as an admin would.
    monkeypatch.setenv("NOTIFIER_TOKEN", issue_token(store, "ada", label="admin", actor="ada"))
    runner = CliRunner()
    listed = runner.invoke(app, ["users", "tokens", "bot", "--database-url", store.url])
    assert listed.exit_code == 0 and "laptop" in listed.output and "ci runner" in listed.output
    revoked = runner.invoke(
        app, ["users", "revoke-token", "bot", str(tokens["laptop"].id), "--database-url", store.url]
    )
    assert revoked.exit_code == 0, revoked.output
    with pytest.raises(AccessDeniedError, match="revoked, expired"):
        identity_for_token(store, laptop)
    assert identity_for_token(store, ci).username == "bot"
    with pytest.raises(InputError, match="no live token"):
        revoke_token(store, "bot", tokens["laptop"].id, actor="ada")  # once is enough
    with pytest.raises(InputError, match="no live token"):
        revoke_token(
            store, "bot", 10**30, actor="ada"
        )  # out of any integer column's range: said, not a crash

    # A token past its expiry is dead.
    with store.begin() as conn:
        conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == tokens["ci runner"].id)
            .values(expires_at=api_tokens.c.created_at)
        )
    with pytest.raises(AccessDeniedError, match="expired"):
        identity_for_token(store, ci)

    # A password reset, and taking a role away, end every session and revoke every token.
    for change in (
        lambda: reset_password(store, "bot", "another long passphrase", actor="ada"),
        lambda: set_roles(store, "bot", ["comms"], actor="ada"),
    ):
        token = issue_token(store, "bot", label="fresh", actor="ada")
        session = start_session(store, identity_for_token(store, token))
        change()
        with pytest.raises(AccessDeniedError):
            identity_for_token(store, token)
        assert session_identity(store, session) is None
    # Giving a role takes nothing away.
    token = issue_token(store, "bot", label="kept", actor="ada")
    set_roles(store, "bot", ["comms", "legal"], actor="ada")
    assert identity_for_token(store, token).user_id == bot.user_id
    with store.connect() as conn:
        actions = [
            (r.action, r.detail.get("tokens_revoked"))
            for r in conn.execute(
                select(audit_log).where(audit_log.c.subject == "user:bot").order_by(audit_log.c.id)
            )
        ]
    assert ("user.token_revoked", None) in actions
    assert ("user.password_reset", 2) in actions  # the fresh token and the expired one
    assert ("user.roles", 1) in actions  # a role taken away
    assert ("user.roles", None) in actions  # a role given: nothing revoked


def test_signing_in_again_ends_the_earlier_session(store: Store) -> None:
    from notifier.accounts.sessions import session_identity, start_session

    alice = add_user(store, "alice", display_name="", roles=["comms"], password=PASSWORD, actor="ada")
    first = start_session(store, alice)
    assert session_identity(store, first) is not None
    second = start_session(store, sign_in(store, "alice", PASSWORD, source="t"))
    assert session_identity(store, first) is None and session_identity(store, second) is not None
