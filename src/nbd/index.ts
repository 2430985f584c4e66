// The NBD server and the interface of what it serves.
export { NbdServer, DEFAULT_LIMITS, type NbdServerOptions, type NbdServerStats, type ListenOptions } from './server.js';
export type { ConnectionLimits } from './connection.js';
export { ExportError, type BlockExport, type Extent } from './export.js';
export { TlsUpgrade, type TlsMode, type TlsOptions } from './tls.js';
export { readPskFile, parsePsk } from './psk-file.js';
export { parseAllow, type AccessRules } from './access.js';
