"""Sign-in, tokens, refresh rotation, logout, API keys and disabled tenants, on both backends."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest

from aiaas.kit.clock import utcnow
from aiaas.kit.security import JwtCodec
from tests.conftest import Stack
from tests.factories import PASSWORD, login, make_tenant, platform_admin_token


async def test_login_then_me(env: Stack) -> None:
    acme = await make_tenant(env)
    me = await env.client.get("/api/v1/auth/me", headers=acme.auth)
    assert me.status_code == 200
    body = me.json()
    assert body["kind"] == "user" and body["role"] == "owner" and body["tenant_slug"] == acme.slug
    assert "api_keys:write" in body["permissions"]


@pytest.mark.parametrize(
    ("email", "password", "tenant"),
    [
        ("owner@x.example", "wrong-password-123", "real"),
        ("nobody@x.example", PASSWORD, "real"),
        ("owner@x.example", PASSWORD, "no-such-tenant"),
    ],
)
async def test_bad_login_is_401_problem(env: Stack, email: str, password: str, tenant: str) -> None:
    await make_tenant(env, slug="real")
    response = await env.client.post(
        "/api/v1/auth/login",
        json={
            "email": email.replace("x.example", "real.example"),
            "password": password,
            "tenant": tenant,
        },
    )
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "invalid_credentials"
    assert password not in response.text


async def test_refresh_rotates_and_reuse_revokes_the_session(env: Stack) -> None:
    acme = await make_tenant(env)
    first = await env.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": acme.refresh_token}
    )
    assert first.status_code == 200
    rotated = first.json()
    assert rotated["refresh_token"] != acme.refresh_token
    assert (
        await env.client.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {rotated['access_token']}"}
        )
    ).status_code == 200

    reused = await env.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": acme.refresh_token}
    )
    assert reused.status_code == 401 and reused.json()["code"] == "refresh_token_reused"
    # the whole family is gone: the rotated refresh token and its access token stop working too
    again = await env.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
    )
    assert again.status_code == 401
    me = await env.client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {rotated['access_token']}"}
    )
    assert me.status_code == 401 and me.json()["code"] == "session_revoked"


async def test_logout_ends_access_and_refresh(env: Stack) -> None:
    acme = await make_tenant(env)
    assert (await env.client.post("/api/v1/auth/logout", headers=acme.auth)).status_code == 204
    assert (await env.client.get("/api/v1/auth/me", headers=acme.auth)).status_code == 401
    refreshed = await env.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": acme.refresh_token}
    )
    assert refreshed.status_code == 401


def _codec(env: Stack, **changes: str) -> JwtCodec:
    s = env.settings
    return JwtCodec(
        changes.get("secret", s.jwt_secret),
        changes.get("issuer", s.auth.jwt_issuer),
        changes.get("audience", s.auth.jwt_audience),
    )


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def test_jwt_attacks_are_401(env: Stack) -> None:
    acme = await make_tenant(env)
    claims = jwt.decode(acme.token, options={"verify_signature": False})
    keep = {k: v for k, v in claims.items() if k in ("sub", "sid", "tid", "ten", "role", "email")}
    forged: dict[str, str] = {}
    forged["alg_none"] = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    forged["wrong_key"] = _codec(env, secret="x" * 48).encode(
        keep, timedelta(minutes=5), typ="access"
    )[0]
    forged["wrong_aud"] = _codec(env, audience="someone-else").encode(
        keep, timedelta(minutes=5), typ="access"
    )[0]
    forged["wrong_iss"] = _codec(env, issuer="evil").encode(
        keep, timedelta(minutes=5), typ="access"
    )[0]
    forged["expired"] = jwt.encode(
        {
            **claims,
            "iat": int((utcnow() - timedelta(hours=2)).timestamp()),
            "exp": int((utcnow() - timedelta(hours=1)).timestamp()),
        },
        env.settings.jwt_secret,
        algorithm="HS256",
    )
    head, payload, signature = acme.token.split(".")
    forged["tampered_signature"] = (
        f"{head}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"
    )
    forged["tampered_payload"] = (
        f"{head}.{_b64({**claims, 'role': 'owner', 'ten': 'other'})}.{signature}"
    )
    forged["refresh_as_access"] = acme.refresh_token
    forged["hs512"] = jwt.encode(claims, env.settings.jwt_secret, algorithm="HS512")
    for name, token in forged.items():
        response = await env.client.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401, f"{name}: {response.status_code} {response.text}"
        assert response.json()["code"] in {"invalid_token", "invalid_authorization"}, name


async def test_api_key_auth_scopes_and_revocation(env: Stack) -> None:
    acme = await make_tenant(env)
    limited = await env.client.post(
        "/api/v1/api-keys", headers=acme.auth, json={"name": "read only", "scopes": ["tenant:read"]}
    )
    key = limited.json()
    assert limited.status_code == 201 and key["key"].startswith(f"ak_{acme.slug}_")
    listed = await env.client.get("/api/v1/api-keys", headers=acme.auth)
    assert all("key" not in item and "key_hash" not in item for item in listed.json()["items"])

    reader = {"Authorization": f"Bearer {key['key']}"}
    assert (await env.client.get("/api/v1/tenant", headers=reader)).status_code == 200
    forbidden = await env.client.get("/api/v1/users", headers=reader)
    assert forbidden.status_code == 403 and forbidden.json()["code"] == "insufficient_permissions"
    assert (
        await env.client.get("/api/v1/tenant", headers={"X-API-Key": key["key"]})
    ).status_code == 200

    assert (
        await env.client.delete(f"/api/v1/api-keys/{key['id']}", headers=acme.auth)
    ).status_code == 200
    revoked = await env.client.get("/api/v1/tenant", headers=reader)
    assert revoked.status_code == 401 and revoked.json()["code"] == "api_key_revoked"


async def test_api_key_tampering_and_expiry(env: Stack) -> None:
    acme = await make_tenant(env)
    other = await make_tenant(env)
    tampered = acme.api_key[:-1] + ("a" if acme.api_key[-1] != "a" else "b")
    moved = acme.api_key.replace(f"ak_{acme.slug}_", f"ak_{other.slug}_")
    for bad in (tampered, moved, "ak_nonsense", "ak_" + "x" * 300):
        response = await env.client.get(
            "/api/v1/tenant", headers={"Authorization": f"Bearer {bad}"}
        )
        assert response.status_code == 401, bad
    soon = (utcnow() + timedelta(seconds=1)).isoformat()
    created = await env.client.post(
        "/api/v1/api-keys",
        headers=acme.auth,
        json={"name": "short", "scopes": ["tenant:read"], "expires_at": soon},
    )
    assert created.status_code == 201
    past = await env.client.post(
        "/api/v1/api-keys",
        headers=acme.auth,
        json={
            "name": "past",
            "scopes": ["tenant:read"],
            "expires_at": (utcnow() - timedelta(days=1)).isoformat(),
        },
    )
    assert past.status_code == 400 and past.json()["code"] == "expiry_in_past"


async def test_cannot_grant_scopes_beyond_own(env: Stack) -> None:
    acme = await make_tenant(env)
    await env.client.post(
        "/api/v1/users",
        headers=acme.auth,
        json={"email": "agent@x.example", "password": PASSWORD, "role": "admin"},
    )
    admin = await login(env.client, "agent@x.example", tenant=acme.slug)
    response = await env.client.post(
        "/api/v1/api-keys",
        headers={"Authorization": f"Bearer {admin['access_token']}"},
        json={"name": "k", "scopes": ["billing:write"]},
    )
    assert response.status_code == 403 and response.json()["code"] == "scope_not_grantable"


async def test_disabled_tenant_is_refused_everywhere(env: Stack) -> None:
    acme = await make_tenant(env)
    admin = await platform_admin_token(env)
    disabled = await env.client.post(f"/api/v1/tenants/{acme.id}/disable", headers=admin)
    assert disabled.status_code == 200 and disabled.json()["status"] == "disabled"
    for headers in (acme.auth, acme.key_auth):
        response = await env.client.get("/api/v1/tenant", headers=headers)
        assert response.status_code == 403 and response.json()["code"] == "tenant_disabled"
    relog = await env.client.post(
        "/api/v1/auth/login",
        json={"email": acme.owner_email, "password": PASSWORD, "tenant": acme.slug},
    )
    assert relog.status_code == 403
    refreshed = await env.client.post(
        "/api/v1/auth/refresh", json={"refresh_token": acme.refresh_token}
    )
    assert refreshed.status_code == 403
    assert (
        await env.client.post(f"/api/v1/tenants/{acme.id}/enable", headers=admin)
    ).status_code == 200
    assert (await env.client.get("/api/v1/tenant", headers=acme.key_auth)).status_code == 200


async def test_platform_admin_manages_tenants_and_tenants_cannot(env: Stack) -> None:
    acme = await make_tenant(env)
    admin = await platform_admin_token(env)
    created = await env.client.post(
        "/api/v1/tenants",
        headers=admin,
        json={
            "slug": "globex",
            "name": "Globex",
            "plan": "free",
            "owner_email": "o@globex.example",
            "owner_password": PASSWORD,
        },
    )
    assert created.status_code == 201, created.text
    duplicate = await env.client.post(
        "/api/v1/tenants",
        headers=admin,
        json={
            "slug": "globex",
            "name": "Globex",
            "owner_email": "o@globex.example",
            "owner_password": PASSWORD,
        },
    )
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "slug_taken"
    bad_plan = await env.client.patch(
        f"/api/v1/tenants/{created.json()['id']}", headers=admin, json={"plan": "platinum"}
    )
    assert bad_plan.status_code == 400 and bad_plan.json()["code"] == "unknown_plan"
    slugs = {
        t["slug"] for t in (await env.client.get("/api/v1/tenants", headers=admin)).json()["items"]
    }
    assert {"globex", acme.slug} <= slugs
    assert (await env.client.get("/api/v1/tenants", headers=acme.auth)).status_code == 403
    assert (await env.client.get("/api/v1/tenant", headers=admin)).status_code == 403


async def test_users_roles_and_last_owner(env: Stack) -> None:
    acme = await make_tenant(env)
    made = await env.client.post(
        "/api/v1/users",
        headers=acme.auth,
        json={"email": "Viewer@X.example", "password": PASSWORD, "role": "viewer"},
    )
    assert made.status_code == 201 and made.json()["email"] == "viewer@x.example"
    dup = await env.client.post(
        "/api/v1/users",
        headers=acme.auth,
        json={"email": "viewer@x.example", "password": PASSWORD, "role": "viewer"},
    )
    assert dup.status_code == 409
    short = await env.client.post(
        "/api/v1/users",
        headers=acme.auth,
        json={"email": "a@x.example", "password": "short", "role": "viewer"},
    )
    assert short.status_code == 422 and short.json()["code"] == "validation_failed"
    assert "short" not in short.text
    viewer = await login(env.client, "viewer@x.example", tenant=acme.slug)
    vh = {"Authorization": f"Bearer {viewer['access_token']}"}
    assert (await env.client.get("/api/v1/users", headers=vh)).status_code == 403
    me = (await env.client.get("/api/v1/auth/me", headers=acme.auth)).json()
    last_owner = await env.client.patch(
        f"/api/v1/users/{me['id']}", headers=acme.auth, json={"role": "admin"}
    )
    assert last_owner.status_code == 409 and last_owner.json()["code"] == "last_owner"
    gone = await env.client.delete(f"/api/v1/users/{made.json()['id']}", headers=acme.auth)
    assert gone.status_code == 200 and gone.json()["is_active"] is False
    assert (await env.client.get("/api/v1/auth/me", headers=vh)).status_code == 401


async def test_seat_limit_comes_from_the_plan(env: Stack) -> None:
    acme = await make_tenant(env, plan="free")
    seats = env.settings.plans["free"].seats
    for i in range(seats - 1):
        ok = await env.client.post(
            "/api/v1/users",
            headers=acme.auth,
            json={"email": f"u{i}@x.example", "password": PASSWORD, "role": "agent"},
        )
        assert ok.status_code == 201
    full = await env.client.post(
        "/api/v1/users",
        headers=acme.auth,
        json={"email": "extra@x.example", "password": PASSWORD, "role": "agent"},
    )
    assert full.status_code == 409 and full.json()["code"] == "seat_limit_reached"
