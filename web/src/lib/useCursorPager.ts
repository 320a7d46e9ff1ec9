import { useState } from "react";

/**
 * Previous/next navigation over cursor-paginated lists. The stack holds the cursor of every page
 * visited so far; changing `resetKey` (e.g. the filters) starts again at the first page.
 */
export function useCursorPager(resetKey = "") {
  const [state, setState] = useState<{ key: string; stack: (string | null)[] }>({ key: resetKey, stack: [null] });
  const stack = state.key === resetKey ? state.stack : [null];
  return {
    cursor: stack[stack.length - 1] ?? null,
    pageNumber: stack.length,
    hasPrevious: stack.length > 1,
    next: (cursor: string) => setState({ key: resetKey, stack: [...stack, cursor] }),
    previous: () => setState({ key: resetKey, stack: stack.slice(0, -1) }),
    reset: () => setState({ key: resetKey, stack: [null] }),
  };
}
