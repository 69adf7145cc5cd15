/**
 * Server-side paging and sorting for admin tables. The query string carries `page`, `per`, `sort`
 * and `dir`; unknown sort keys fall back to the default so a hand-edited URL never reaches SQL.
 */
export interface PageQuery {
  page: number;
  per: number;
  sort: string;
  dir: 'asc' | 'desc';
}

export interface Page<T> extends PageQuery {
  items: T[];
  total: number;
  pages: number;
}

export const PER_PAGE_CHOICES = [10, 25, 50, 100] as const;

export function parsePageQuery(q: Record<string, unknown>, sorts: readonly string[], def: { sort: string; dir: 'asc' | 'desc'; per?: number }): PageQuery {
  const int = (v: unknown, d: number) => {
    const n = Number(typeof v === 'string' ? v : NaN);
    return Number.isInteger(n) && n > 0 ? n : d;
  };
  const per = int(q.per, def.per ?? 25);
  const sort = typeof q.sort === 'string' && sorts.includes(q.sort) ? q.sort : def.sort;
  const dir = q.dir === 'asc' || q.dir === 'desc' ? q.dir : sort === def.sort ? def.dir : 'asc';
  return { page: Math.min(int(q.page, 1), 100_000), per: (PER_PAGE_CHOICES as readonly number[]).includes(per) ? per : def.per ?? 25, sort, dir };
}

export function pageOf<T>(items: T[], total: number, q: PageQuery): Page<T> {
  return { ...q, items, total, pages: Math.max(1, Math.ceil(total / q.per)) };
}

/** SQL `limit … offset …` for a page (values are integers we produced, safe to inline). */
export const limitOffset = (q: PageQuery) => `limit ${q.per} offset ${(q.page - 1) * q.per}`;

export interface TableNav {
  from: number;
  to: number;
  total: number;
  page: number;
  pages: number;
  prevHref: string | null;
  nextHref: string | null;
  /** Per sortable column: the link that sorts by it, and whether it is the current sort. */
  sort: Record<string, { href: string; active: boolean; dir: 'asc' | 'desc' }>;
}

/** Links for page turns and column sorts that keep every other filter in the query string. */
export function tableNav(basePath: string, query: Record<string, unknown>, p: Page<unknown>, sortable: readonly string[]): TableNav {
  const href = (patch: Record<string, string | number | undefined>) => {
    const u = new URLSearchParams();
    // Multi-select filters (`users=a&users=b`) arrive as arrays and are kept as repeated keys.
    for (const [k, v] of Object.entries(query)) {
      if (k in patch) continue;
      for (const x of Array.isArray(v) ? v : [v]) if (typeof x === 'string' && x !== '') u.append(k, x);
    }
    for (const [k, v] of Object.entries(patch)) if (v !== undefined && v !== '') u.set(k, String(v));
    const s = u.toString();
    return s ? `${basePath}?${s}` : basePath;
  };
  const sort: TableNav['sort'] = {};
  for (const key of sortable) {
    const active = p.sort === key;
    const dir = active && p.dir === 'asc' ? 'desc' : active ? 'asc' : key === 'created' || key === 'time' || key === 'lastUsed' ? 'desc' : 'asc';
    sort[key] = { href: href({ sort: key, dir, page: undefined }), active, dir: active ? p.dir : dir };
  }
  return {
    from: p.total === 0 ? 0 : (p.page - 1) * p.per + 1,
    to: Math.min(p.total, p.page * p.per),
    total: p.total,
    page: p.page,
    pages: p.pages,
    prevHref: p.page > 1 ? href({ page: p.page - 1 }) : null,
    nextHref: p.page < p.pages ? href({ page: p.page + 1 }) : null,
    sort,
  };
}
