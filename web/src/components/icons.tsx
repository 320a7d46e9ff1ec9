import type { ReactNode } from "react";

/** A small set of line icons drawn on a 24-unit grid; decorative, so hidden from assistive tech. */
function Icon({ children, className = "h-5 w-5" }: { children: ReactNode; className?: string }) {
  return (
    <svg
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      strokeWidth={1.7}
      strokeLinecap="round"
      strokeLinejoin="round"
      className={className}
      aria-hidden="true"
    >
      {children}
    </svg>
  );
}

export const icons = {
  overview: (
    <Icon>
      <path d="M4 11l8-6 8 6" />
      <path d="M6 10v9h12v-9" />
      <path d="M10 19v-5h4v5" />
    </Icon>
  ),
  users: (
    <Icon>
      <circle cx="9" cy="8" r="3.2" />
      <path d="M3.5 19c.6-3.2 2.8-5 5.5-5s4.9 1.8 5.5 5" />
      <circle cx="17" cy="9" r="2.4" />
      <path d="M16 14.2c2.3.2 3.9 1.8 4.5 4.3" />
    </Icon>
  ),
  key: (
    <Icon>
      <circle cx="8" cy="15" r="4" />
      <path d="M11 12l8-8" />
      <path d="M16 7l2.5 2.5" />
      <path d="M14 9l2 2" />
    </Icon>
  ),
  audit: (
    <Icon>
      <rect x="5" y="3.5" width="14" height="17" rx="2" />
      <path d="M9 8h6M9 12h6M9 16h4" />
    </Icon>
  ),
  events: (
    <Icon>
      <path d="M13 3L5 13.5h6L10 21l8-10.5h-6z" />
    </Icon>
  ),
  tenants: (
    <Icon>
      <rect x="4" y="3.5" width="10" height="17" rx="1" />
      <path d="M14 9h5a1 1 0 011 1v10.5H14" />
      <path d="M7.5 7.5h3M7.5 11h3M7.5 14.5h3M17 13h.01M17 16.5h.01" />
    </Icon>
  ),
  signOut: (
    <Icon className="h-4 w-4">
      <path d="M14 4h4a2 2 0 012 2v12a2 2 0 01-2 2h-4" />
      <path d="M10 16l-4-4 4-4M6 12h10" />
    </Icon>
  ),
  menu: (
    <Icon>
      <path d="M4 7h16M4 12h16M4 17h16" />
    </Icon>
  ),
} as const;

export type IconName = keyof typeof icons;

export function Logo() {
  return (
    <svg viewBox="0 0 32 32" className="h-8 w-8" aria-hidden="true">
      <rect width="32" height="32" rx="7" fill="#4f46e5" />
      <path d="M9 22l7-13 7 13" fill="none" stroke="#fff" strokeWidth="3" strokeLinecap="round" strokeLinejoin="round" />
      <circle cx="16" cy="19" r="1.8" fill="#fff" />
    </svg>
  );
}
