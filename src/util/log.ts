// The one logging seam: servers, tiers and health checks say what happens
// through a function the caller gives (stderr in the CLI, nothing in tests).
export type LogFn = (level: 'info' | 'warn' | 'error', msg: string) => void;
