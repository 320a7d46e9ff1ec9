/** Permission strings of the API (API key scopes are permissions too), with what each allows. */
export const PERMISSIONS = {
  "tenant:read": "Read the tenant's profile and plan",
  "tenant:write": "Change the tenant's profile",
  "users:read": "List and read users",
  "users:write": "Invite, change and deactivate users",
  "api_keys:read": "List API keys (never their secrets)",
  "api_keys:write": "Create and revoke API keys",
  "audit:read": "Read the audit log",
  "events:read": "Read the event catalog",
  "chat:read": "Read conversations",
  "chat:write": "Start conversations and send messages",
  "inbox:write": "Claim and answer conversations waiting for a human",
  "knowledge:read": "Search and read knowledge documents",
  "knowledge:write": "Upload, replace and delete knowledge documents",
  "workflows:read": "Read workflows and runs",
  "workflows:write": "Change workflows, start and cancel runs",
  "tools:read": "Read tool manifests",
  "tools:write": "Register tools and make test calls",
  "router:read": "Read routing decisions and statistics",
  "router:write": "Ask for routing decisions, send feedback, train intents",
  "analytics:read": "Read analytics",
  "billing:read": "Read usage, plans and invoices",
  "billing:write": "Change budgets",
} as const;

export type Permission = keyof typeof PERMISSIONS;

const DOMAIN_LABELS: Record<string, string> = {
  tenant: "Tenant",
  users: "Users",
  api_keys: "API keys",
  audit: "Audit",
  events: "Events",
  chat: "Chat",
  inbox: "Chat",
  knowledge: "Knowledge",
  workflows: "Workflows",
  tools: "Tools",
  router: "Routing",
  analytics: "Analytics",
  billing: "Billing",
};

export interface PermissionGroup {
  label: string;
  permissions: { name: string; description: string }[];
}

/** Groups permission strings by domain (the part before the colon), in catalogue order. */
export function groupPermissions(names: readonly string[]): PermissionGroup[] {
  const groups = new Map<string, PermissionGroup>();
  const known = Object.keys(PERMISSIONS);
  const ordered = [...names].sort((a, b) => rank(known, a) - rank(known, b) || a.localeCompare(b));
  for (const name of ordered) {
    const domain = name.split(":")[0] ?? name;
    const label = DOMAIN_LABELS[domain] ?? domain;
    const group = groups.get(label) ?? { label, permissions: [] };
    group.permissions.push({ name, description: PERMISSIONS[name as Permission] ?? name });
    groups.set(label, group);
  }
  return [...groups.values()];
}

function rank(known: string[], name: string): number {
  const index = known.indexOf(name);
  return index === -1 ? known.length : index;
}
