import { Button } from "./Button";

interface PagerProps {
  pageNumber: number;
  hasPrevious: boolean;
  nextCursor: string | null | undefined;
  onPrevious: () => void;
  onNext: (cursor: string) => void;
  busy?: boolean;
}

export function Pager({ pageNumber, hasPrevious, nextCursor, onPrevious, onNext, busy }: PagerProps) {
  if (!hasPrevious && !nextCursor) return null;
  return (
    <nav aria-label="Pagination" className="mt-4 flex items-center justify-between">
      <span className="text-sm text-slate-500">Page {pageNumber}</span>
      <div className="flex gap-2">
        <Button variant="secondary" size="sm" onClick={onPrevious} disabled={!hasPrevious || busy}>
          Previous
        </Button>
        <Button
          variant="secondary"
          size="sm"
          onClick={() => nextCursor && onNext(nextCursor)}
          disabled={!nextCursor || busy}
        >
          Next
        </Button>
      </div>
    </nav>
  );
}
