"""Who may call which route: the one table every API route is looked up in.

Routes never check roles themselves. ``authorize`` runs before every route of the API router,
finds the route's rule here and answers 401 (no or bad credentials) or 403 (too few rights)
before the route's code runs. A route without a rule is refused to everyone and logged, and
the role-matrix test fails on it: adding a route means adding its line here.
"""

from __future__ import annotations

from enum import StrEnum

from shopfloor.auth.roles import Permission

P = Permission


class Access(StrEnum):
    PUBLIC = "public"  # no credentials: sign-in, health probes
    SIGNED_IN = "signed_in"  # any user or key: who am I
    USER = "user"  # any signed-in person, not a key: one's own password and second factor


Rule = Permission | Access

# (method, path within /api/v1) → what the caller needs.
POLICY: dict[tuple[str, str], Rule] = {
    # Operations
    ("GET", "/health/live"): Access.PUBLIC,
    ("GET", "/health/ready"): Access.PUBLIC,
    ("GET", "/deadletters"): P.ADMIN,
    ("POST", "/deadletters/replay"): P.ADMIN,
    # Models: anyone may see them; maintenance engineers promote and roll back
    ("GET", "/models"): P.READ,
    ("GET", "/assets/{asset_id}/health"): P.READ,
    ("GET", "/models/{name}/versions"): P.READ,
    ("POST", "/models/{name}/aliases"): P.MANAGE_MODELS,
    # Connectors: anyone may see what runs; those who run the plant define them
    ("GET", "/connectors"): P.READ,
    ("GET", "/connectors/{name}"): P.READ,
    ("POST", "/connectors"): P.MANAGE_PLANT,
    ("PUT", "/connectors/{name}"): P.MANAGE_PLANT,
    ("PATCH", "/connectors/{name}"): P.MANAGE_PLANT,
    ("DELETE", "/connectors/{name}"): P.MANAGE_PLANT,
    # Sign-in and one's own account
    ("POST", "/auth/token"): Access.PUBLIC,
    ("POST", "/auth/refresh"): Access.PUBLIC,  # the refresh token is the credential
    ("POST", "/auth/logout"): Access.PUBLIC,  # likewise
    ("GET", "/auth/me"): Access.SIGNED_IN,
    ("POST", "/auth/password"): Access.USER,
    ("POST", "/auth/totp"): Access.USER,
    ("POST", "/auth/totp/confirm"): Access.USER,
    ("DELETE", "/auth/totp"): Access.USER,
    # Users, API keys, the audit log
    ("GET", "/users"): P.ADMIN,
    ("POST", "/users"): P.ADMIN,
    ("GET", "/users/{user_id}"): P.ADMIN,
    ("PATCH", "/users/{user_id}"): P.ADMIN,
    ("DELETE", "/users/{user_id}"): P.ADMIN,
    ("GET", "/api-keys"): P.ADMIN,
    ("POST", "/api-keys"): P.ADMIN,
    ("GET", "/api-keys/{key_id}"): P.ADMIN,
    ("DELETE", "/api-keys/{key_id}"): P.ADMIN,
    ("GET", "/audit"): P.ADMIN,
    ("GET", "/audit/verify"): P.ADMIN,
    # Plant
    ("GET", "/assets"): P.READ,
    ("POST", "/assets"): P.MANAGE_PLANT,
    ("GET", "/assets/{asset_id}"): P.READ,
    ("PATCH", "/assets/{asset_id}"): P.MANAGE_PLANT,
    ("DELETE", "/assets/{asset_id}"): P.MANAGE_PLANT,
    ("GET", "/sensors"): P.READ,
    ("POST", "/sensors"): P.MANAGE_PLANT,
    ("GET", "/sensors/{sensor_id}"): P.READ,
    ("PATCH", "/sensors/{sensor_id}"): P.MANAGE_PLANT,
    ("DELETE", "/sensors/{sensor_id}"): P.MANAGE_PLANT,
    # Readings
    ("POST", "/readings"): P.INGEST,
    ("GET", "/readings/latest"): P.READ,
    ("GET", "/sensors/{sensor_id}/readings"): P.READ,
    # Alarms
    ("GET", "/alarms"): P.READ,
    ("GET", "/alarms/{alarm_id}"): P.READ,
    ("POST", "/alarms/{alarm_id}/acknowledge"): P.ACKNOWLEDGE,
    ("POST", "/alarms/{alarm_id}/notes"): P.ACKNOWLEDGE,
    ("POST", "/alarms/{alarm_id}/resolve"): P.RESOLVE,
    ("POST", "/alarms/{alarm_id}/assign"): P.RESOLVE,
    ("GET", "/alarm-rules"): P.READ,
    ("POST", "/alarm-rules"): P.MANAGE_PLANT,
    ("GET", "/alarm-rules/{rule_id}"): P.READ,
    ("PATCH", "/alarm-rules/{rule_id}"): P.MANAGE_PLANT,
    ("DELETE", "/alarm-rules/{rule_id}"): P.MANAGE_PLANT,
    # Shelving an asset for a maintenance window is the maintenance engineers' call.
    ("GET", "/shelves"): P.READ,
    ("POST", "/shelves"): P.MANAGE_PLANT,
    ("GET", "/shelves/{shelf_id}"): P.READ,
    ("DELETE", "/shelves/{shelf_id}"): P.MANAGE_PLANT,
    # Notifications: channel settings hold addresses and secrets, so reading them is managing.
    ("GET", "/channels"): P.MANAGE_NOTIFY,
    ("POST", "/channels"): P.MANAGE_NOTIFY,
    ("GET", "/channels/{channel_id}"): P.MANAGE_NOTIFY,
    ("PATCH", "/channels/{channel_id}"): P.MANAGE_NOTIFY,
    ("DELETE", "/channels/{channel_id}"): P.MANAGE_NOTIFY,
    ("GET", "/subscriptions"): P.MANAGE_NOTIFY,
    ("POST", "/subscriptions"): P.MANAGE_NOTIFY,
    ("GET", "/subscriptions/{subscription_id}"): P.MANAGE_NOTIFY,
    ("PATCH", "/subscriptions/{subscription_id}"): P.MANAGE_NOTIFY,
    ("DELETE", "/subscriptions/{subscription_id}"): P.MANAGE_NOTIFY,
    ("GET", "/deliveries"): P.MANAGE_NOTIFY,
    ("GET", "/deliveries/{delivery_id}"): P.MANAGE_NOTIFY,
    # Quality
    ("GET", "/parts"): P.READ,
    ("POST", "/parts"): P.MANAGE_QUALITY,
    ("GET", "/parts/{part_id}"): P.READ,
    ("PATCH", "/parts/{part_id}"): P.MANAGE_QUALITY,
    ("GET", "/characteristics"): P.READ,
    ("POST", "/characteristics"): P.MANAGE_QUALITY,
    ("GET", "/characteristics/{characteristic_id}"): P.READ,
    ("PATCH", "/characteristics/{characteristic_id}"): P.MANAGE_QUALITY,
    ("GET", "/lots"): P.READ,
    ("POST", "/lots"): P.MANAGE_QUALITY,
    ("GET", "/lots/{lot_id}"): P.READ,
    ("GET", "/defect-types"): P.READ,
    ("POST", "/defect-types"): P.INSPECT,
    ("GET", "/inspections"): P.READ,
    ("POST", "/inspections"): P.INSPECT,
    ("GET", "/inspections/{inspection_id}"): P.READ,
    ("POST", "/inspections/{inspection_id}/start"): P.INSPECT,
    ("POST", "/inspections/{inspection_id}/complete"): P.INSPECT,
    ("POST", "/inspections/{inspection_id}/cancel"): P.INSPECT,
    ("GET", "/inspections/{inspection_id}/measurements"): P.READ,
    ("POST", "/inspections/{inspection_id}/measurements"): P.INSPECT,
    ("GET", "/inspections/{inspection_id}/defects"): P.READ,
    ("POST", "/inspections/{inspection_id}/defects"): P.INSPECT,
    ("GET", "/quality/pareto"): P.READ,
    ("GET", "/quality/yield"): P.READ,
    # SPC
    ("GET", "/spc/{characteristic_id}"): P.READ,
    ("GET", "/spc/{characteristic_id}/limits"): P.READ,
    ("POST", "/spc/{characteristic_id}/limits"): P.MANAGE_QUALITY,
    ("DELETE", "/spc/{characteristic_id}/limits"): P.MANAGE_QUALITY,
    ("GET", "/capability/{characteristic_id}"): P.READ,
}


def rule_for(method: str, path: str) -> Rule | None:
    """The rule of a route (HEAD is answered like GET), or None when it has none."""
    return POLICY.get(("GET" if method == "HEAD" else method, path))
