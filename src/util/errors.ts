// User-facing errors carry a stable `code` (undici style) so the CLI can print
// one line and exit non-zero without a stack trace, and tests can match codes.
export class SmrError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SmrError';
    this.code = code;
  }
}

export function isSmrError(e: unknown): e is SmrError {
  return e instanceof SmrError;
}
