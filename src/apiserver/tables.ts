// Server-side printing over HTTP: content negotiation of `meta.k8s.io` Tables and their assembly
// from the printers in api/printers.ts, as upstream's handlers do it (apiserver
// endpoints/handlers/response.go asTable, pkg/printers/tablegenerator.go).
import { apiVersionOf, type ResourceType } from '../api/resources.js';
import type { KObject } from '../api/types.js';
import { printerFor, type TableCell, type TableColumnDefinition, type TableRowCondition } from '../api/printers.js';
import { errors } from './errors.js';

export type IncludeObject = 'None' | 'Metadata' | 'Object';

/** Media types a response can be given in (protobuf is answered with JSON, which every client accepts). */
const SERVABLE = new Set(['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf', 'application/*', '*/*']);

/**
 * True when the Accept header asks for a meta.k8s.io Table (v1 or v1beta1), as kubectl get does.
 * Like upstream's negotiation, the clause with the highest q wins, the first one among equals;
 * clauses asking for another conversion (PartialObjectMetadata) are skipped as not servable.
 */
export function wantsTable(accept: string | undefined): boolean {
  if (!accept) return false;
  let bestQ = 0;
  let table = false;
  for (const clause of accept.split(',')) {
    const params = clause.split(';');
    if (!SERVABLE.has(params[0].trim().toLowerCase())) continue;
    let q = 1;
    let as: string | undefined, g: string | undefined, v: string | undefined;
    for (let i = 1; i < params.length; i++) {
      const eq = params[i].indexOf('=');
      if (eq < 0) continue;
      const key = params[i].slice(0, eq).trim().toLowerCase();
      const value = params[i].slice(eq + 1).trim();
      if (key === 'q') q = Number(value);
      else if (key === 'as') as = value;
      else if (key === 'g') g = value;
      else if (key === 'v') v = value;
    }
    if (!(q > bestQ)) continue;
    const conversion = as !== undefined || g !== undefined || v !== undefined;
    const isTable = as === 'Table' && g === 'meta.k8s.io' && (v === 'v1' || v === 'v1beta1');
    if (conversion && !isTable) continue;
    bestQ = q;
    table = isTable;
  }
  return table;
}

/** `includeObject` query parameter → value (default Metadata); anything else → throws ApiError 400 as upstream. */
export function includeObjectOf(q: URLSearchParams): IncludeObject {
  const v = q.get('includeObject');
  if (v === null || v === '' || v === 'Metadata') return 'Metadata';
  if (v === 'None' || v === 'Object') return v;
  throw errors.badRequest(`unrecognized includeObject value: ${JSON.stringify(v)}`);
}

interface TableRow {
  cells: TableCell[];
  conditions?: readonly TableRowCondition[];
  object: unknown;
}

const NO_COLUMNS: readonly TableColumnDefinition[] = [];

/**
 * A Table of these objects (a list, or a single GET with one object). `columns: false` leaves
 * columnDefinitions empty (watch events after the first).
 */
export function toTable(r: ResourceType, objects: KObject[], opts: {
  includeObject: IncludeObject;
  resourceVersion?: string;
  continue?: string;
  remainingItemCount?: number;
  columns?: boolean;
  now?: Date;
}): object {
  const printer = printerFor(r.kind);
  const now = (opts.now ?? new Date()).getTime();
  const apiVersion = apiVersionOf(r);
  const rows: TableRow[] = new Array(objects.length);
  for (let i = 0; i < objects.length; i++) {
    const o = objects[i];
    const conditions = printer.conditions?.(o);
    // Upstream always has the `object` key; with includeObject=None it is null.
    let object: unknown = null;
    if (opts.includeObject === 'Metadata') {
      object = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata };
    } else if (opts.includeObject === 'Object') {
      object = o.kind && o.apiVersion ? o : { kind: r.kind, apiVersion, ...o };
    }
    rows[i] = conditions
      ? { cells: printer.cells(o, now), conditions, object }
      : { cells: printer.cells(o, now), object };
  }
  const metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number } = {};
  if (opts.resourceVersion) metadata.resourceVersion = opts.resourceVersion;
  if (opts.continue) metadata.continue = opts.continue;
  if (opts.remainingItemCount !== undefined) metadata.remainingItemCount = opts.remainingItemCount;
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata,
    columnDefinitions: opts.columns === false ? NO_COLUMNS : printer.columns,
    rows,
  };
}
