"""Identity: who is calling (token file, OpenID providers), what they may use
(per-platform access policy, admins) and how much (per-owner limits).

| module | one concept |
|---|---|
| ``settings`` | the ``[auth]`` section and the per-platform access keys |
| ``identity`` | :class:`Identity` (owner, groups, admin), claim cleaning |
| ``tokenfile`` | the token file: digests only, re-read on change |
| ``jwks`` | an issuer's signing keys, cached, refetched on an unknown key id |
| ``oidc`` | one OpenID provider: discovery, JWT verification, RFC 7662 introspection |
| ``authenticator`` | Authorization header -> Identity, or 401 with the SSO challenges |
| ``middleware`` | authenticates protected paths before routing; 401/429 headers |
| ``sessions`` | the HTML pages' sign-in cookie: the token sealed (AES-GCM, itsdangerous) |
| ``codeflow`` | the pages' OpenID sign-in: authorization-code flow with PKCE |
| ``policy`` | ``allow_groups``/``allow_owners``/``deny`` per platform instance |
| ``limits`` | per-owner active jobs and pending offer sets (429) |
"""

from __future__ import annotations

from ivoa_broker.auth.authenticator import Authenticator
from ivoa_broker.auth.identity import ANONYMOUS, Identity
from ivoa_broker.auth.tokenfile import TokenError, TokenFile, read_token_file

__all__ = ["ANONYMOUS", "Authenticator", "Identity", "TokenError", "TokenFile", "read_token_file"]
