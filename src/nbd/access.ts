// Who may use which export: exports named in the rules are open only to the
// identities listed (a PSK identity or a client certificate's subject CN);
// exports not named are open to every client the server lets in.

/** Export name -> identities allowed. */
export type AccessRules = ReadonlyMap<string, ReadonlySet<string>>;

export function mayUse(rules: AccessRules | undefined, exportName: string, identity: string | undefined): boolean {
  const allowed = rules?.get(exportName);
  if (!allowed) return true;
  return identity !== undefined && allowed.has(identity);
}

/** "EXPORT=ID[,ID...]" values (repeatable; repeating an export adds identities). */
export function parseAllow(values: readonly string[]): Map<string, Set<string>> {
  const rules = new Map<string, Set<string>>();
  for (const v of values) {
    const i = v.indexOf('=');
    const ids = i > 0 ? v.slice(i + 1).split(',').filter((s) => s !== '') : [];
    if (i <= 0 || ids.length === 0) throw new Error(`--allow '${v}': expected EXPORT=IDENTITY[,IDENTITY...]`);
    const name = v.slice(0, i);
    const set = rules.get(name) ?? new Set<string>();
    for (const id of ids) set.add(id);
    rules.set(name, set);
  }
  return rules;
}
