"""Seeding: platform admins and the demo tenant used by `aiaas demo` and `make dev`."""

from __future__ import annotations

import ipaddress

from aiaas.ingestion.service import seed_demo_knowledge
from aiaas.kit.errors import NotFound
from aiaas.kit.security import hash_password
from aiaas.platform import Platform
from aiaas.tenancy.models import PlatformAdmin
from aiaas.tenancy.permissions import PERMISSIONS
from aiaas.tenancy.repository import PlatformAdminRepository
from aiaas.tenancy.service import ApiKeyService, NewTenant
from aiaas.tools.service import install_standard_tools

DEMO_KEY_FILE = "demo-api-key"


async def ensure_platform_admin(platform: Platform, email: str, password: str) -> bool:
    """Create a platform admin unless one with this email exists; True when created."""
    async with platform.db.transaction(None) as session:
        admins = PlatformAdminRepository(session)
        if await admins.by_email(email):
            return False
        await admins.add(
            PlatformAdmin(
                email=email.lower(), password_hash=await hash_password(password), is_active=True
            )
        )
    return True


async def seed_demo(platform: Platform) -> str:
    """Create (once) the demo tenant, its owner, a platform admin and an API key; return sign-in help."""
    settings = platform.settings
    demo = settings.demo
    try:
        tenant = await platform.tenants.get_by_slug(demo.tenant_slug)
        created = False
    except NotFound:
        tenant = await platform.tenants.create(
            NewTenant(
                slug=demo.tenant_slug,
                name=demo.tenant_name,
                owner_email=demo.owner_email,
                owner_password=demo.owner_password.get_secret_value(),
                plan="pro",
                owner_name="Demo Owner",
            )
        )
        created = True
    await ensure_platform_admin(
        platform, demo.platform_admin_email, demo.platform_admin_password.get_secret_value()
    )
    # The help centre (indexed now, without a worker) and the order/lead/ticket tools of the demo store.
    knowledge_added = await seed_demo_knowledge(platform, tenant.id)
    tools_added = await install_standard_tools(platform.db, tenant.id)

    key_file = settings.data_dir / DEMO_KEY_FILE
    if created or not key_file.exists():
        async with platform.db.transaction(tenant.id) as session:
            _, raw = await ApiKeyService(session, settings, platform.credentials).create(
                None, tenant.slug, "demo server key", sorted(PERMISSIONS), None
            )
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        key_file.write_text(raw + "\n")
        key_file.chmod(0o600)
    api_key = key_file.read_text().strip()
    base = f"http://{_display_host(settings.host)}:{settings.port}"
    return "\n".join(
        [
            f"Demo tenant '{tenant.slug}' ({tenant.name}) is {'created' if created else 'ready'}.",
            f"  Knowledge:      {knowledge_added} help-centre documents added; tools added: {', '.join(tools_added) or 'none'}",
            f"  Dashboard:      {base}/  (tenant: {tenant.slug})",
            f"  Owner:          {demo.owner_email} / {demo.owner_password.get_secret_value()}",
            f"  Platform admin: {demo.platform_admin_email} / {demo.platform_admin_password.get_secret_value()}",
            f"  API key:        {api_key}   (also in {key_file})",
            "  Try:",
            f"    curl -s {base}/api/v1/auth/login -H 'content-type: application/json' \\",
            f'      -d \'{{"tenant":"{tenant.slug}","email":"{demo.owner_email}",'
            f'"password":"{demo.owner_password.get_secret_value()}"}}\'',
            f"    curl -s {base}/api/v1/auth/me -H 'Authorization: Bearer {api_key}'",
        ]
    )


def _display_host(host: str) -> str:
    """The address to print for a server bound to ``host`` (a wildcard address means this machine)."""
    try:
        return "localhost" if ipaddress.ip_address(host).is_unspecified else host
    except ValueError:
        return host
