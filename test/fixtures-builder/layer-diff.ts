// What one layer must carry: the difference between the root filesystem
// before (lower) and after (upper) its steps, in the order a layer tar lists
// it. Deleted paths become whiteouts, named directories become opaque.
import { readFileSync, readlinkSync } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import { join, kindOf, lstat, mtimeSeconds, permissions, sortedNames, toFs, walk, xattrsUnder, type BytePath, type Kind } from './tree.js';

export type LayerAction =
  | { k: 'entry'; rel: BytePath; abs: BytePath; st: BigIntStats; kind: Kind; xattrs: Array<[string, Buffer]> }
  | { k: 'whiteout' | 'opaque'; rel: BytePath };

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

const child = (rel: BytePath, name: BytePath) => (rel === '' ? name : `${rel}/${name}`);

export function diffTrees(lower: BytePath | undefined, upper: BytePath, opaque: BytePath[], epoch: number): LayerAction[] {
  const upperX = xattrsUnder(upper);
  const lowerX = lower === undefined ? new Map() : xattrsUnder(lower);
  const xattrsOf = (abs: BytePath, st: BigIntStats, x: Map<BytePath, Array<[string, Buffer]>>) => (st.isSymbolicLink() ? [] : (x.get(abs) ?? []));
  const entry = (rel: BytePath, st: BigIntStats): LayerAction => {
    const abs = join(upper, rel);
    return { k: 'entry', rel, abs, st, kind: kindOf(st), xattrs: xattrsOf(abs, st, upperX) };
  };
  const everything = (rel: BytePath): LayerAction[] => [...walk(upper, rel)].map((e) => entry(e.rel, e.st));

  const same = (rel: BytePath, l: BigIntStats, u: BigIntStats): boolean => {
    const kind = kindOf(u);
    if (kindOf(l) !== kind || permissions(l) !== permissions(u) || l.uid !== u.uid || l.gid !== u.gid) return false;
    if (Math.min(mtimeSeconds(l), epoch) !== Math.min(mtimeSeconds(u), epoch)) return false;
    const lx = xattrsOf(join(lower!, rel), l, lowerX);
    const ux = xattrsOf(join(upper, rel), u, upperX);
    if (lx.length !== ux.length || lx.some(([k, v], i) => k !== ux[i]![0] || !v.equals(ux[i]![1]))) return false;
    if (kind === 'f') return l.size === u.size && readFileSync(toFs(join(lower!, rel))).equals(readFileSync(toFs(join(upper, rel))));
    if (kind === 'l') return readlinkSync(toFs(join(lower!, rel)), 'latin1') === readlinkSync(toFs(join(upper, rel)), 'latin1');
    if (kind === 'c' || kind === 'b') return l.rdev === u.rdev;
    return true;
  };

  const opaqueSet = new Set(opaque);
  const dir = (rel: BytePath, u: BigIntStats, l: BigIntStats): LayerAction[] => {
    if (opaqueSet.has(rel)) {
      // Re-created in this layer: hide everything below it and ship it whole.
      const [self, ...content] = everything(rel);
      return [self!, { k: 'opaque', rel: child(rel, OPAQUE) }, ...content];
    }
    const upperNames = sortedNames(join(upper, rel));
    const present = new Set(upperNames);
    const whiteouts: LayerAction[] = sortedNames(join(lower!, rel))
      .filter((n) => !present.has(n))
      .map((n) => ({ k: 'whiteout', rel: child(rel, WHITEOUT + n) }));
    const changes: LayerAction[] = [];
    for (const n of upperNames) {
      const c = child(rel, n);
      const cu = lstat(join(upper, c));
      let cl: BigIntStats | undefined;
      try {
        cl = lstat(join(lower!, c));
      } catch {
        cl = undefined;
      }
      if (cl === undefined || kindOf(cl) !== kindOf(cu)) changes.push(...everything(c));
      else if (cu.isDirectory()) changes.push(...dir(c, cu, cl));
      else if (!same(c, cl, cu)) changes.push(entry(c, cu));
    }
    // A layer carries the directories above each change, as docker's do.
    if (whiteouts.length > 0 || changes.length > 0 || !same(rel, l, u)) return [entry(rel, u), ...whiteouts, ...changes];
    return [];
  };

  if (lower === undefined) return everything('');
  return dir('', lstat(upper), lstat(lower));
}
