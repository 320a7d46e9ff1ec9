/** RFC 9457 problem details as the API sends them, and the one error type the UI handles. */

export interface FieldError {
  loc: (string | number)[];
  msg: string;
  type?: string;
}

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  code?: string;
  request_id?: string;
  errors?: FieldError[];
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly requestId: string | null;
  readonly fieldErrors: FieldError[];

  constructor(status: number, problem: Problem) {
    super(problem.detail || problem.title || `Request failed with status ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = problem.code ?? "unknown_error";
    this.title = problem.title ?? "Error";
    this.requestId = problem.request_id ?? null;
    this.fieldErrors = Array.isArray(problem.errors) ? problem.errors : [];
  }
}

/** The request never got an answer (server down, offline, CORS, aborted). */
export class NetworkError extends Error {
  constructor(cause: unknown) {
    super("Could not reach the server. Check your connection and try again.", { cause });
    this.name = "NetworkError";
  }
}

function isProblem(value: unknown): value is Problem {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Reads a problem body (or whatever the server sent) from a failed response without consuming it. */
export async function readProblem(response: Response): Promise<Problem> {
  try {
    const text = await response.clone().text();
    if (!text) return { status: response.status, title: response.statusText };
    const parsed: unknown = JSON.parse(text);
    return isProblem(parsed) ? parsed : { status: response.status, detail: text };
  } catch {
    return { status: response.status, title: response.statusText };
  }
}

/** Turns the `error` half of an openapi-fetch result into an ApiError. */
export function toApiError(error: unknown, response: Response): ApiError {
  return new ApiError(response.status, isProblem(error) ? (error as Problem) : {});
}

/** A sentence to show the user for any thrown value. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError || error instanceof NetworkError) return error.message;
  if (error instanceof Error && error.message) return error.message;
  return "Something went wrong.";
}
