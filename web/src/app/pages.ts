/**
 * Every page of the dashboard, in navigation order. A page is one folder under src/pages/ whose
 * index.tsx default-exports its component; adding a page means adding a folder and one entry
 * here. Pages load lazily, so each one is its own small chunk.
 */
import { type ComponentType, type LazyExoticComponent, lazy } from "react";

import type { Permission } from "../auth/permissions";
import type { IconName } from "../components/icons";

export type Audience = "everyone" | "tenant" | "platform";

export interface PageDefinition {
  path: string;
  label: string;
  icon: IconName;
  /** Who sees it: tenant principals, platform admins, or both. */
  audience: Audience;
  /** Permissions a tenant principal needs (all of them) to see the page. */
  permissions?: Permission[];
  component: LazyExoticComponent<ComponentType>;
}

export const PAGES: PageDefinition[] = [
  {
    path: "/",
    label: "Overview",
    icon: "overview",
    audience: "everyone",
    component: lazy(() => import("../pages/overview")),
  },
  {
    path: "/users",
    label: "Users",
    icon: "users",
    audience: "tenant",
    permissions: ["users:read"],
    component: lazy(() => import("../pages/users")),
  },
  {
    path: "/api-keys",
    label: "API keys",
    icon: "key",
    audience: "tenant",
    permissions: ["api_keys:read"],
    component: lazy(() => import("../pages/api-keys")),
  },
  {
    path: "/audit-log",
    label: "Audit log",
    icon: "audit",
    audience: "tenant",
    permissions: ["audit:read"],
    component: lazy(() => import("../pages/audit-log")),
  },
  {
    path: "/events",
    label: "Event catalog",
    icon: "events",
    audience: "tenant",
    permissions: ["events:read"],
    component: lazy(() => import("../pages/event-catalog")),
  },
  {
    path: "/tenants",
    label: "Tenants",
    icon: "tenants",
    audience: "platform",
    component: lazy(() => import("../pages/tenants")),
  },
];

export interface Viewer {
  isPlatformAdmin: boolean;
  can(...permissions: string[]): boolean;
}

export function canSee(page: PageDefinition, viewer: Viewer): boolean {
  if (page.audience === "platform") return viewer.isPlatformAdmin;
  if (page.audience === "tenant" && viewer.isPlatformAdmin) return false;
  return viewer.can(...(page.permissions ?? []));
}
