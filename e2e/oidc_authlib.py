"""OpenID Connect with a second relying-party library no one here wrote,
in another language: Python's authlib. It reads the discovery document,
builds the authorization URL (PKCE S256, state, nonce) and prints it; the
test drives a browser through it and writes the callback URL back on stdin;
authlib then exchanges the code, validates the ID token against the JWKS
(signature, iss, aud, exp, nonce), refreshes, introspects and revokes.

Usage: python3 oidc_authlib.py BASE_URL CLIENT_ID CLIENT_SECRET REDIRECT_URI EXPECTED_ALG
"""

import sys

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.jose.errors import BadSignatureError, DecodeError
from authlib.oidc.core import CodeIDToken

base, client_id, secret, redirect_uri, expected_alg = sys.argv[1:6]
failures = []


def check(ok, what):
    print(("ok - " if ok else "not ok - ") + what, flush=True)
    if not ok:
        failures.append(what)


meta = requests.get(f"{base}/.well-known/openid-configuration", timeout=10).json()
check(meta["issuer"] == base, "discovery names the issuer")
session = OAuth2Session(
    client_id,
    secret,
    scope="openid profile email offline_access",
    redirect_uri=redirect_uri,
    code_challenge_method="S256",
    token_endpoint_auth_method="client_secret_basic",
    default_timeout=10,
)
verifier = generate_token(64)
nonce = generate_token(24)
url, state = session.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
print(f"AUTHORIZE {url}", flush=True)
callback = sys.stdin.readline().strip()

token = session.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
check(token["token_type"] == "Bearer" and token["expires_in"] <= 600, "the code is exchanged (state checked by authlib)")
keys = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
options = {"iss": {"essential": True, "value": meta["issuer"]}, "aud": {"essential": True, "value": client_id}}


def validated(id_token, nonce=None):
    claims = jwt.decode(id_token, keys, claims_cls=CodeIDToken, claims_options=options, claims_params={"nonce": nonce})
    claims.validate()
    return claims


claims = validated(token["id_token"], nonce)
header = jwt.decode(token["id_token"], keys).header
check(header["alg"] == expected_alg, f"the ID token is signed {expected_alg} as the client registered")
check(claims["preferred_username"] == "pia" and "pwd" in claims["amr"], "authlib validates the ID token and its claims")

head, body, signature = token["id_token"].split(".")
forged = f"{head}.{body}.{signature[:-4]}AAAA"
try:
    jwt.decode(forged, keys)
    check(False, "a forged signature is refused")
except (BadSignatureError, DecodeError, ValueError):
    check(True, "a forged signature is refused")

info = session.get(meta["userinfo_endpoint"]).json()
check(info["sub"] == claims["sub"] and info["email"] == "pia@example.com", "userinfo answers for the access token")

refreshed = session.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
again = validated(refreshed["id_token"])
check(refreshed["refresh_token"] != token["refresh_token"], "a refresh rotates the refresh token")
check(again["auth_time"] == claims["auth_time"], "auth_time stays the sign-in's")

live = session.introspect_token(meta["introspection_endpoint"], token=refreshed["access_token"]).json()
check(live["active"] is True and live["sub"] == claims["sub"], "introspection says the access token is live")
revoked = session.revoke_token(meta["revocation_endpoint"], token=refreshed["refresh_token"], token_type_hint="refresh_token")
check(revoked.status_code == 200, "revocation is answered 200")
dead = session.introspect_token(meta["introspection_endpoint"], token=refreshed["access_token"]).json()
check(dead == {"active": False}, "the grant's access token is dead after its refresh token is revoked")

if failures:
    sys.exit(1)
print("authlib signs in end to end", flush=True)
