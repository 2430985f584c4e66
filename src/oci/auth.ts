// Registry authentication: parse WWW-Authenticate challenges and answer
// them, with Basic credentials or with a Bearer token fetched from the
// realm the registry names (distribution's token auth), cached per scope.
import { SmrError } from '../util/errors.js';
import type { Credentials, CredentialLookup } from './docker-config.js';

export interface Challenge {
  /** Lower-case scheme: "bearer", "basic", … */
  scheme: string;
  params: Record<string, string>;
}

const TOKEN_CHARS = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;

/** Parses one WWW-Authenticate header value, which may hold several challenges. */
export function parseWwwAuthenticate(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skip = (chars: string) => {
    while (i < n && chars.includes(header[i] as string)) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < n && TOKEN_CHARS.test(header[i] as string)) i++;
    return header.slice(start, i);
  };
  while (i < n) {
    skip(' \t,');
    const scheme = token();
    if (!scheme) break;
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    for (;;) {
      skip(' \t');
      const save = i;
      const name = token();
      skip(' \t');
      if (!name) {
        if (header[i] === ',') {
          i++;
          continue;
        }
        break;
      }
      if (header[i] !== '=') {
        i = save; // not a parameter: the next challenge's scheme
        break;
      }
      i++;
      skip(' \t');
      let value = '';
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++;
      } else {
        // RFC 7235 wants a token here; be lenient with unquoted URLs.
        const start = i;
        while (i < n && !' \t,'.includes(header[i] as string)) i++;
        value = header.slice(start, i);
      }
      challenge.params[name.toLowerCase()] = value;
      skip(' \t');
      if (header[i] === ',') i++;
    }
  }
  return out;
}

/** What the auth layer needs from the HTTP layer: a GET with retries, body read. */
export type TokenGetter = (url: URL, headers: Record<string, string>) => Promise<{ status: number; body: Buffer }>;

interface CachedToken {
  token: string;
  expires: number;
}

function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

export class RegistryAuth {
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly credentials: Credentials | undefined;

  constructor(
    /** "127.0.0.1:5000/fixtures/static", for messages. */
    private readonly target: string,
    private readonly lookup: CredentialLookup,
    private readonly getToken: TokenGetter,
  ) {
    this.credentials = lookup.credentials;
  }

  /** Remembers the challenge of a 401 (from the /v2/ ping or any request). */
  learn(header: string | undefined): boolean {
    const challenges = parseWwwAuthenticate(header ?? '');
    const chosen =
      challenges.find((c) => c.scheme === 'bearer' && c.params.realm) ?? challenges.find((c) => c.scheme === 'basic');
    if (chosen) this.challenge = chosen;
    return chosen !== undefined;
  }

  /** The Authorization header for a request needing `scope`, if the registry asked for one. */
  async authorization(scope: string): Promise<string | undefined> {
    const ch = this.challenge;
    if (!ch) return undefined;
    if (ch.scheme === 'basic') return this.credentials ? basicHeader(this.credentials) : undefined;
    return `Bearer ${await this.token(ch, scope)}`;
  }

  /**
   * After a 401 on a request sent with `sent` (or none): learns the new
   * challenge and says whether one more try can succeed.
   */
  async retryAfter401(header: string | undefined, scope: string, sent: string | undefined): Promise<boolean> {
    const before = this.challenge;
    if (!this.learn(header)) return false;
    const ch = this.challenge as Challenge;
    if (ch.scheme === 'basic') return sent === undefined && this.credentials !== undefined;
    const wanted = ch.params.scope ?? scope;
    const key = this.cacheKey(ch, wanted);
    const cached = this.tokens.get(key);
    if (sent !== undefined && cached && sent === `Bearer ${cached.token}` && before?.params.realm === ch.params.realm) {
      // That very token was refused: drop it, so a later call fetches afresh.
      this.tokens.delete(key);
      return false;
    }
    await this.token(ch, wanted);
    return true;
  }

  /** Says why a 401 stays a 401, for the error message. */
  failure(status: number): SmrError {
    const hint = this.lookup.helper
      ? ` (the auth file names credential helper "${this.lookup.helper}", which is not supported; put an "auths" entry in it)`
      : this.lookup.searched.length > 0
        ? ` (no credentials for it in ${this.lookup.searched.join(', ')})`
        : ' (no registry auth file found; write one with `docker login` or pass --authfile)';
    if (!this.credentials) {
      return new SmrError('AUTH_REQUIRED', `authentication required for ${this.target}${hint}`);
    }
    const what = status === 403 ? 'access denied' : 'credentials rejected';
    return new SmrError(
      'AUTH_FAILED',
      `authentication failed for ${this.target}: ${what} for user "${this.credentials.username}" (from ${this.credentials.file})`,
    );
  }

  private cacheKey(ch: Challenge, scope: string): string {
    return `${ch.params.realm}\n${ch.params.service ?? ''}\n${scope}`;
  }

  private async token(ch: Challenge, scope: string): Promise<string> {
    const key = this.cacheKey(ch, scope);
    const cached = this.tokens.get(key);
    if (cached && cached.expires > Date.now()) return cached.token;
    let url: URL;
    try {
      url = new URL(ch.params.realm as string);
    } catch {
      throw new SmrError('AUTH_FAILED', `registry for ${this.target} sent an invalid token realm ${JSON.stringify(ch.params.realm)}`);
    }
    if (ch.params.service) url.searchParams.set('service', ch.params.service);
    for (const s of scope.split(' ')) if (s) url.searchParams.append('scope', s);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.credentials) {
      headers.authorization = basicHeader(this.credentials);
      url.searchParams.set('account', this.credentials.username);
    }
    const res = await this.getToken(url, headers);
    if (res.status === 401 || res.status === 403) {
      if (!this.credentials) throw this.failure(res.status);
      throw new SmrError(
        'AUTH_FAILED',
        `authentication failed for ${this.target}: token server ${url.origin}${url.pathname} rejected user "${this.credentials.username}" (${res.status})`,
      );
    }
    if (res.status !== 200) {
      throw new SmrError('AUTH_FAILED', `token server ${url.origin}${url.pathname} answered ${res.status} for ${this.target}`);
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(res.body.toString('utf8')) as typeof body;
    } catch {
      throw new SmrError('AUTH_FAILED', `token server ${url.origin}${url.pathname} sent a reply that is not JSON`);
    }
    const token = typeof body.token === 'string' && body.token ? body.token : body.access_token;
    if (typeof token !== 'string' || token === '') {
      throw new SmrError('AUTH_FAILED', `token server ${url.origin}${url.pathname} sent no token`);
    }
    // Spec: default lifetime 60 s; renew a little early.
    const lifetime = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    this.tokens.set(key, { token, expires: Date.now() + Math.max(lifetime - 10, 5) * 1000 });
    return token;
  }
}
