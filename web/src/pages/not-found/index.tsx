import { Link } from "react-router";

import { EmptyState } from "../../components/feedback";

export default function NotFoundPage() {
  return (
    <EmptyState title="Page not found">
      <Link to="/" className="font-medium text-indigo-600 hover:text-indigo-500">
        Back to the overview
      </Link>
    </EmptyState>
  );
}
