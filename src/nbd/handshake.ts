// Option haggling (fixed newstyle): one option in, its replies out, and what
// the connection does next. Pure apart from the export list it consults, so
// the connection owns all the I/O.
import {
  BASE_ALLOCATION,
  FLAG_C_FIXED_NEWSTYLE,
  FLAG_C_NO_ZEROES,
  MAX_PAYLOAD,
  MAX_STRING,
  OPT_ABORT,
  OPT_EXPORT_NAME,
  OPT_GO,
  OPT_INFO,
  OPT_LIST,
  OPT_LIST_META_CONTEXT,
  OPT_SET_META_CONTEXT,
  OPT_STARTTLS,
  OPT_STRUCTURED_REPLY,
  REP_ACK,
  REP_ERR_INVALID,
  REP_ERR_POLICY,
  REP_ERR_SHUTDOWN,
  REP_ERR_TLS_REQD,
  REP_ERR_TOO_BIG,
  REP_ERR_UNKNOWN,
  REP_ERR_UNSUP,
} from './constants.js';
import { mayUse, type AccessRules } from './access.js';
import type { BlockExport } from './export.js';
import type { TlsMode } from './tls.js';
import { findExport, listExports, preferredBlockSize, transmissionFlags, type ExportList } from './export-info.js';
import {
  infoBlockSize,
  infoDescription,
  infoExport,
  infoName,
  metaContextReply,
  optionError,
  optionReply,
  serverReply,
  sizeAndFlags,
} from './option-reply.js';

/** The id of base:allocation, our only metadata context. */
export const BASE_ALLOCATION_ID = 1;

/** What transmission needs to know from the handshake. */
export interface Session {
  export: BlockExport;
  structured: boolean;
  /** Whether base:allocation was selected for this export (BLOCK_STATUS allowed). */
  blockStatus: boolean;
  flags: number;
}

/** What the connection knows about its security when options are haggled. */
export interface Policy {
  tls: TlsMode;
  /** TLS has been started on this connection. */
  secure: boolean;
  /** The client's PSK identity or certificate CN, once known. */
  identity?: string;
  access?: AccessRules;
}

export type OptionOutcome = (
  | { next: 'options'; replies: Buffer[] }
  /** Send the ACK, then the TLS handshake, then options again with a fresh Negotiation. */
  | { next: 'starttls'; replies: Buffer[] }
  | { next: 'close'; replies: Buffer[]; reason: string }
  | { next: 'transmission'; replies: Buffer[]; session: Session }
) & {
  /** A fault of ours (the export list threw, an export is invalid), for the log. */
  fault?: string;
  /** Something to log as a warning (an access refused). */
  notice?: string;
};

const KNOWN_CLIENT_FLAGS = FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES;

export class Negotiation {
  noZeroes = false;
  private structured = false;
  /** Canonical name of the export base:allocation was selected for, if any. */
  private metaExport: string | undefined;

  constructor(
    private readonly exports: ExportList,
    private readonly policy: Policy = { tls: 'off', secure: false },
  ) {}

  /** False means unknown flags: the spec says drop the connection. */
  clientFlags(flags: number): boolean {
    if ((flags & ~KNOWN_CLIENT_FLAGS) !== 0) return false;
    this.noZeroes = (flags & FLAG_C_NO_ZEROES) !== 0;
    return true;
  }

  /** An option whose data was too long to read: it was skipped. */
  oversized(option: number, length: number): OptionOutcome {
    if (option === OPT_EXPORT_NAME) return close([], `export name of ${length} bytes`);
    return options(optionError(option, REP_ERR_TOO_BIG, `option data of ${length} bytes is too long`));
  }

  option(option: number, data: Buffer, shuttingDown: boolean): OptionOutcome {
    try {
      return this.dispatch(option, data, shuttingDown);
    } catch (e) {
      const fault = `option ${option}: ${(e as Error).message}`;
      if (option === OPT_EXPORT_NAME) return { ...close([], fault), fault };
      return { ...options(optionError(option, REP_ERR_POLICY, `server error: ${(e as Error).message}`)), fault };
    }
  }

  private dispatch(option: number, data: Buffer, shuttingDown: boolean): OptionOutcome {
    if (shuttingDown && option !== OPT_ABORT) {
      if (option === OPT_EXPORT_NAME) return close([], 'shutting down');
      return options(optionError(option, REP_ERR_SHUTDOWN, 'server is shutting down'));
    }
    // FORCEDTLS: nothing but STARTTLS and ABORT before TLS, and no export list.
    if (this.policy.tls === 'require' && !this.policy.secure && option !== OPT_STARTTLS && option !== OPT_ABORT) {
      if (option === OPT_EXPORT_NAME) return close([], 'NBD_OPT_EXPORT_NAME without TLS');
      return options(optionError(option, REP_ERR_TLS_REQD, 'TLS is required: start TLS first'));
    }
    switch (option) {
      case OPT_STARTTLS:
        if (this.policy.tls === 'off') return options(optionError(option, REP_ERR_UNSUP, 'TLS is not configured on this server'));
        if (data.length !== 0) return invalid(option, 'NBD_OPT_STARTTLS takes no data');
        if (this.policy.secure) return invalid(option, 'TLS has already been started');
        return { next: 'starttls', replies: [optionReply(option, REP_ACK)] };
      case OPT_EXPORT_NAME:
        return this.exportName(data);
      case OPT_ABORT:
        // Any data is ignored, as the spec asks.
        return close([optionReply(option, REP_ACK)], 'client aborted');
      case OPT_LIST:
        if (data.length !== 0) return invalid(option, 'NBD_OPT_LIST takes no data');
        return options(
          ...listExports(this.exports)
            .filter((e) => mayUse(this.policy.access, e.name, this.policy.identity))
            .map((e) => serverReply(option, e.name, e.description)),
          optionReply(option, REP_ACK),
        );
      case OPT_STRUCTURED_REPLY:
        if (data.length !== 0) return invalid(option, 'NBD_OPT_STRUCTURED_REPLY takes no data');
        this.structured = true;
        return options(optionReply(option, REP_ACK));
      case OPT_INFO:
      case OPT_GO:
        return this.infoOrGo(option, data);
      case OPT_LIST_META_CONTEXT:
      case OPT_SET_META_CONTEXT:
        return this.metaContext(option, data);
      default:
        // EXTENDED_HEADERS and anything newer.
        return options(optionError(option, REP_ERR_UNSUP, `option ${option} is not supported`));
    }
  }

  private exportName(data: Buffer): OptionOutcome {
    const exp = data.length <= MAX_STRING ? findExport(this.exports, data.toString('utf8')) : undefined;
    // No way to report an error here: the spec says hang up.
    if (!exp) return close([], `unknown export ${JSON.stringify(data.toString('utf8', 0, 256))}`);
    if (!this.allowed(exp)) return { ...close([], this.refusal(exp)), notice: this.refusal(exp) };
    const session = this.session(exp);
    return { next: 'transmission', replies: [sizeAndFlags(exp.size, session.flags, this.noZeroes ? 0 : 124)], session };
  }

  private infoOrGo(option: number, data: Buffer): OptionOutcome {
    if (data.length < 6) return invalid(option, 'option data too short');
    const nameLen = data.readUInt32BE(0);
    if (nameLen > data.length - 6) return invalid(option, 'export name longer than the option');
    if (nameLen > MAX_STRING) return invalid(option, 'export name too long');
    const nInfo = data.readUInt16BE(4 + nameLen);
    if (data.length !== 6 + nameLen + 2 * nInfo) return invalid(option, 'information request list does not match the option length');
    const name = data.toString('utf8', 4, 4 + nameLen);
    const exp = findExport(this.exports, name);
    if (!exp) return options(optionError(option, REP_ERR_UNKNOWN, `no export named ${JSON.stringify(name)}`));
    if (!this.allowed(exp)) return this.refused(option, exp);
    const session = this.session(exp);
    // All information is sent whether asked for or not; clients ignore what they do not know.
    const replies = [infoExport(option, exp.size, session.flags), infoName(option, exp.name)];
    if (exp.description) replies.push(infoDescription(option, exp.description));
    replies.push(infoBlockSize(option, 1, preferredBlockSize(exp), MAX_PAYLOAD));
    replies.push(optionReply(option, REP_ACK));
    if (option === OPT_INFO) return options(...replies);
    return { next: 'transmission', replies, session };
  }

  private metaContext(option: number, data: Buffer): OptionOutcome {
    const set = option === OPT_SET_META_CONTEXT;
    // SET replaces the selection even when it fails.
    if (set) this.metaExport = undefined;
    if (!this.structured) return invalid(option, 'structured replies must be negotiated first');
    const parsed = parseMetaQuery(data);
    if (typeof parsed === 'string') return invalid(option, parsed);
    const exp = findExport(this.exports, parsed.name);
    if (!exp) return options(optionError(option, REP_ERR_UNKNOWN, `no export named ${JSON.stringify(parsed.name)}`));
    if (!this.allowed(exp)) return this.refused(option, exp);
    for (const q of parsed.queries) if (!q.includes(':')) return invalid(option, `query ${JSON.stringify(q)} has no namespace`);
    // Listing with no query, or with the base: wildcard, shows base:allocation;
    // other namespaces are not ours and are ignored.
    const match = set
      ? parsed.queries.includes(BASE_ALLOCATION)
      : parsed.queries.length === 0 || parsed.queries.some((q) => q === 'base:' || q === BASE_ALLOCATION);
    const replies: Buffer[] = [];
    if (match) replies.push(metaContextReply(option, set ? BASE_ALLOCATION_ID : 0, BASE_ALLOCATION));
    if (match && set) this.metaExport = exp.name;
    replies.push(optionReply(option, REP_ACK));
    return options(...replies);
  }

  private allowed(exp: BlockExport): boolean {
    return mayUse(this.policy.access, exp.name, this.policy.identity);
  }

  private refusal(exp: BlockExport): string {
    const who = this.policy.identity === undefined ? 'a client without identity' : `identity ${JSON.stringify(this.policy.identity)}`;
    return `export ${JSON.stringify(exp.name)} refused to ${who}`;
  }

  /** NBD_REP_ERR_POLICY to the client; who asked goes to the log. */
  private refused(option: number, exp: BlockExport): OptionOutcome {
    return { ...options(optionError(option, REP_ERR_POLICY, 'access to this export is not allowed')), notice: this.refusal(exp) };
  }

  private session(exp: BlockExport): Session {
    return {
      export: exp,
      structured: this.structured,
      blockStatus: this.structured && this.metaExport === exp.name,
      flags: transmissionFlags(exp, this.structured),
    };
  }
}

/** The data of LIST/SET_META_CONTEXT, or why it is malformed. */
function parseMetaQuery(data: Buffer): { name: string; queries: string[] } | string {
  let pos = 0;
  const str = (): string | undefined => {
    if (pos + 4 > data.length) return undefined;
    const len = data.readUInt32BE(pos);
    if (len > MAX_STRING || pos + 4 + len > data.length) return undefined;
    pos += 4 + len;
    return data.toString('utf8', pos - len, pos);
  };
  const name = str();
  if (name === undefined) return 'bad export name';
  if (pos + 4 > data.length) return 'missing query count';
  const n = data.readUInt32BE(pos);
  pos += 4;
  // Each query takes at least 4 bytes: this bounds n by the data we have.
  if (n > (data.length - pos) / 4) return 'more queries than the data holds';
  const queries: string[] = [];
  for (let i = 0; i < n; i++) {
    const q = str();
    if (q === undefined) return `bad query ${i}`;
    queries.push(q);
  }
  if (pos !== data.length) return 'trailing bytes after the queries';
  return { name, queries };
}

function options(...replies: Buffer[]): OptionOutcome {
  return { next: 'options', replies };
}

function close(replies: Buffer[], reason: string): OptionOutcome {
  return { next: 'close', replies, reason };
}

function invalid(option: number, message: string): OptionOutcome {
  return options(optionError(option, REP_ERR_INVALID, message));
}
