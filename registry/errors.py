"""Errors of registry operations. Each names the rule or field it is about; the API turns them
into problem+json responses and the CLI into a message naming the field."""

from __future__ import annotations


class RegistryError(Exception):
    status = 400
    type = "registry-error"

    def __init__(self, detail: str, *, field: str | None = None, rule: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.rule = rule

    def problem(self) -> dict:
        body = {"type": f"urn:icr-bridge:problem:{self.type}", "title": self.type.replace("-", " "),
                "status": self.status, "detail": self.detail}
        if self.field:
            body["field"] = self.field
        if self.rule:
            body["rule"] = self.rule
        return body


class NotFound(RegistryError):
    status = 404
    type = "not-found"


class Conflict(RegistryError):
    status = 409
    type = "conflict"


class RuleViolation(RegistryError):
    status = 422
    type = "rule-violation"


class Unauthorized(RegistryError):
    """No API key, or one that is unknown, malformed or revoked."""

    status = 401
    type = "unauthorized"
    headers = {"WWW-Authenticate": 'ApiKey header="X-API-Key"'}


class Forbidden(RegistryError):
    """A valid key acting outside its scope (another organization's account, an
    administrator-only operation)."""

    status = 403
    type = "forbidden"
