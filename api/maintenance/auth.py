"""The maintenance API's admin token (``CAPSTAN_PATCH_ADMIN_TOKEN``, alias ``PATCH_ADMIN_TOKEN``).

Unset: every maintenance route is open. Set: ``Authorization: Bearer <token>`` (the scheme word in any
case, then whitespace, then the token) or ``X-Patch-Admin-Token: <token>``; either one matching is
enough. Checked by the request gate before anything else, so an unknown id without the token is a
401, not a 404. Compared in constant time.
"""

from __future__ import annotations

import re

from fastapi import Request

from api.common.auth import Principal, secrets_equal
from api.common.errors import Unauthorized
from models.common.settings import secret_value

#: The OpenAPI security schemes of the admin token (declared in ``api/maintenance/router.py``).
PATCH_ADMIN_BEARER = "patchAdminBearer"
PATCH_ADMIN_HEADER = "patchAdminToken"
_BEARER = re.compile(r"^bearer\s+(.+)$", re.IGNORECASE | re.DOTALL)
ADMIN = Principal(subject="patch-admin", scheme="patch-admin-token", roles=frozenset({"admin"}))


def offered_tokens(request: Request) -> list[str]:
    tokens = []
    if match := _BEARER.match(request.headers.get("authorization", "")):
        tokens.append(match.group(1))
    if (header := request.headers.get("x-patch-admin-token")) is not None:
        tokens.append(header)
    return tokens


class PatchAdminToken:
    name = "patch-admin-token"
    #: OpenAPI security alternatives (``api.common.openapi``).
    schemes = ((PATCH_ADMIN_BEARER, PATCH_ADMIN_HEADER),)

    def check(self, request: Request) -> Principal | None:
        expected = secret_value(request.app.state.settings.patch.admin_token)
        if not expected:
            return None
        matched = False
        for token in offered_tokens(request):  # every offered token compared: no early exit
            matched |= secrets_equal(token, expected)
        if not matched:
            raise Unauthorized("the admin token is missing or wrong: send Authorization: Bearer <token> or "
                               "X-Patch-Admin-Token", headers={"WWW-Authenticate": "Bearer"})
        return ADMIN
