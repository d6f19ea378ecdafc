// Build step (after tsc): generates the OpenAPI v3 schema definitions kubelite serves, in upstream's
// /openapi/v3 shape and naming, into dist/openapi/definitions.json (generated, never committed).
//
// Sources, all dev dependencies read at build time:
//  * @kubernetes/client-node's generated models (from the v1.34 OpenAPI spec): every model class's
//    `attributeTypeMap` gives its fields (JSON name, type, format); its .d.ts gives the descriptions
//    (JSDoc) and which fields are required (no `?`).
//  * kubernetes-types (v1.30): which upstream package declares each type (its files are laid out by
//    group/version), the fields client-node flattens (Quantity is a plain string there, FieldsV1 and
//    RawExtension are `any`), the descriptions of IntOrString fields (client-node repeats the
//    IntOrString type's text instead), and the paragraph breaks client-node collapses into spaces.
//  * src/api/patch-metadata.ts (compiled): the Go struct tags and markers, overlaid as x-kubernetes-*
//    extensions and `default`s.
//  * src/api/resources.ts (compiled): the served kinds, which are the roots of the definitions.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const modelsDir = path.join(path.dirname(require.resolve('@kubernetes/client-node/package.json')), 'dist/gen/models');
const typesDir = path.dirname(require.resolve('kubernetes-types/package.json'));
const outFile = path.join(root, 'dist/openapi/definitions.json');

const importDist = (file) => import(pathToFileURL(path.join(root, 'dist/src/api', file)).href);
const { RESOURCES, groups } = await importDist('resources.js');
const { FIELD_MARKERS, DEFINITION_MAP_TYPE, DEFINITION_UNIONS, FIELD_DEFAULTS } = await importDist('patch-metadata.js');

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const TIME = `${META}.Time`;
const MICRO_TIME = `${META}.MicroTime`;
const QUANTITY = 'io.k8s.apimachinery.pkg.api.resource.Quantity';
const INT_OR_STRING = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';
const FIELDS_V1 = `${META}.FieldsV1`;
const RAW_EXTENSION = 'io.k8s.apimachinery.pkg.runtime.RawExtension';

// ---------------------------------------------------------------------------------------------
// Doc comments. Both packages write them as /** ... */ with one ` * ` per line; client-node also
// escapes quotes and backslashes as in a JS string literal and puts everything on one line.

function docComment(text, node) {
  const ranges = ts.getLeadingCommentRanges(text, node.getFullStart()) ?? [];
  const doc = ranges.filter((r) => text.startsWith('/**', r.pos)).at(-1);
  if (!doc) return '';
  return text
    .slice(doc.pos + 3, doc.end - 2)
    .split('\n')
    .map((line) => line.replace(/^\s*\* ?/, '').trimEnd())
    .join('\n')
    .trim();
}

const unescapeClientNode = (s) => s.replace(/\\\\\\\\/g, '\\').replace(/\\(['"])/g, '$1');
const squashSpace = (s) => s.replace(/\s+/g, ' ').trim();

/**
 * client-node's text, unless kubernetes-types has the same words with upstream's line breaks.
 * client-node leaves out the description of some fields that refer to another type.
 */
function description(clientNodeText, typesText = '') {
  const text = unescapeClientNode(clientNodeText);
  return !text || squashSpace(typesText) === squashSpace(text) ? typesText : text;
}

function parseDts(file) {
  const text = fs.readFileSync(file, 'utf8');
  return { text, source: ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true) };
}

const memberName = (m) => (m.name && (ts.isStringLiteral(m.name) || ts.isIdentifier(m.name)) ? m.name.text : undefined);

// ---------------------------------------------------------------------------------------------
// kubernetes-types: <dir>/<version>.d.ts (or runtime.d.ts, api/resource.d.ts) → upstream package.

function typesPackage(module) {
  if (module === 'meta/v1') return META;
  if (module === 'api/resource') return 'io.k8s.apimachinery.pkg.api.resource';
  if (module === 'runtime') return 'io.k8s.apimachinery.pkg.runtime';
  if (module === 'version') return 'io.k8s.apimachinery.pkg.version';
  const [group, version] = module.split('/');
  if (group === 'apiextensions') return `io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.${version}`;
  return `io.k8s.api.${group}.${version}`;
}

/** Type name → declarations ({pkg, description, members: name → {type, description}}). */
const typesIndex = new Map();
for (const file of fs.readdirSync(typesDir, { recursive: true })) {
  if (!file.endsWith('.d.ts')) continue;
  const module = file.slice(0, -'.d.ts'.length).split(path.sep).join('/');
  const { text, source } = parseDts(path.join(typesDir, file));
  for (const stmt of source.statements) {
    if (!ts.isInterfaceDeclaration(stmt) && !ts.isTypeAliasDeclaration(stmt)) continue;
    const members = new Map();
    for (const m of ts.isInterfaceDeclaration(stmt) ? stmt.members : []) {
      const name = memberName(m);
      if (name) members.set(name, { type: m.type?.getText(source) ?? '', description: docComment(text, m) });
    }
    const decl = { pkg: typesPackage(module), version: module.split('/')[1], description: docComment(text, stmt), members };
    typesIndex.set(stmt.name.text, [...(typesIndex.get(stmt.name.text) ?? []), decl]);
  }
}

function typesDecl(name) {
  const decls = typesIndex.get(name) ?? [];
  if (decls.length !== 1) throw new Error(`gen-openapi: kubernetes-types declares ${name} ${decls.length} times`);
  return decls[0];
}

// ---------------------------------------------------------------------------------------------
// client-node model classes: `V1PodSpec`, `CoreV1Event`, `DiscoveryV1EndpointPort`, `V1beta1...`.

/** Model classes placed by definitionName's last rule, for the build log. */
const inheritedPackage = [];
const CLASS_NAME = /^([A-Z][a-z]+)?(V\d+(?:(?:alpha|beta)\d+)?)([A-Z]\w*)$/;

async function loadClass(className) {
  const mod = await import(pathToFileURL(path.join(modelsDir, `${className}.js`)).href);
  const { text, source } = parseDts(path.join(modelsDir, `${className}.d.ts`));
  const cls = source.statements.find((s) => ts.isClassDeclaration(s) && s.name?.text === className);
  const members = new Map();
  for (const m of cls.members) {
    const name = memberName(m);
    if (name && ts.isPropertyDeclaration(m) && !m.modifiers?.some((x) => x.kind === ts.SyntaxKind.StaticKeyword)) {
      members.set(name, { optional: !!m.questionToken, description: docComment(text, m) });
    }
  }
  return { attributes: mod[className].attributeTypeMap, description: docComment(text, cls), members };
}

const classExists = (name) => fs.existsSync(path.join(modelsDir, `${name}.js`));

/** The model class of a served kind: group-qualified where client-node has one (CoreV1Event). */
function kindClass(group, version, kind) {
  const ver = version[0].toUpperCase() + version.slice(1);
  const prefix = group === '' ? 'Core' : group[0].toUpperCase() + group.split('.')[0].slice(1);
  const name = [`${prefix}${ver}${kind}`, `${ver}${kind}`].find(classExists);
  if (!name) throw new Error(`gen-openapi: no client-node model for ${group}/${version} ${kind}`);
  return name;
}

/**
 * The upstream definition name of a model class. A group-qualified class names its package; otherwise
 * the package is the kubernetes-types module of that version declaring the type. Types newer than
 * kubernetes-types (v1.31+) live in the package of the type that refers to them, as every such type
 * reachable from kubelite's kinds does (they are all core/v1 or discovery/v1 additions).
 */
function definitionName(className, referrerPkg) {
  const [, groupPrefix, version, shortName] = CLASS_NAME.exec(className) ?? [];
  if (!shortName) throw new Error(`gen-openapi: unexpected model class name ${className}`);
  const ver = version.toLowerCase();
  if (groupPrefix) return `${typesPackage(`${groupPrefix.toLowerCase()}/${ver}`)}.${shortName}`;
  const decls = (typesIndex.get(shortName) ?? []).filter((d) => d.version === ver);
  if (decls.length > 1) throw new Error(`gen-openapi: ${className} is ambiguous: ${decls.map((d) => d.pkg).join(', ')}`);
  if (decls.length === 1) return `${decls[0].pkg}.${shortName}`;
  if (!referrerPkg) throw new Error(`gen-openapi: cannot place ${className} in an upstream package`);
  inheritedPackage.push(className);
  return `${referrerPkg}.${shortName}`;
}

// ---------------------------------------------------------------------------------------------
// Schema nodes, shaped as upstream's v3 documents: a reference with siblings (description, default)
// is wrapped as {allOf: [{$ref}]}, a bare one stays {$ref}.

function refNode(name, extra = {}) {
  const ref = { $ref: `#/components/schemas/${name}` };
  return Object.keys(extra).length ? { allOf: [ref], ...extra } : ref;
}

const TYPE_DESCRIBED = new Set(['IntOrString', 'V1MicroTime']);
const ZERO = { string: '', integer: 0, number: 0, boolean: false };
const OBJECT_SPECIALS = new Set([FIELDS_V1, RAW_EXTENSION]);
const isScalarRef = (name) => [TIME, MICRO_TIME, QUANTITY, INT_OR_STRING].includes(name);

/** A client-node attribute type (`Array<V1Container>`, `{ [key: string]: string; }`, `number`, ...) as a schema. */
function typeSchema(type, format, typesType, enqueue) {
  const array = /^Array<(.+)>$/.exec(type);
  if (array) return { type: 'array', items: elementSchema(array[1], format, typesType, enqueue) };
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) return { type: 'object', additionalProperties: elementSchema(map[1], format, typesType, enqueue) };
  switch (type) {
    case 'string':
      if (/\bQuantity\b/.test(typesType)) return { ref: QUANTITY };
      return format ? { type: 'string', format } : { type: 'string' };
    case 'number':
      if (format === 'double' || format === 'float') return { type: 'number', format };
      return format ? { type: 'integer', format } : { type: 'integer' };
    case 'boolean':
      return { type: 'boolean' };
    case 'Date':
      return { ref: /\bMicroTime\b/.test(typesType) ? MICRO_TIME : TIME };
    case 'V1MicroTime':
      return { ref: MICRO_TIME };
    case 'IntOrString':
      return { ref: INT_OR_STRING };
    case 'any':
      if (/\bFieldsV1\b/.test(typesType)) return { ref: FIELDS_V1 };
      if (/\bRawExtension\b/.test(typesType)) return { ref: RAW_EXTENSION };
      return { type: 'object' };
    default:
      return { ref: enqueue(type) };
  }
}

/** List items and map values carry the zero value of their Go element type as `default`. */
function elementSchema(type, format, typesType, enqueue) {
  const s = typeSchema(type, format, typesType, enqueue);
  if (s.ref) return isScalarRef(s.ref) || OBJECT_SPECIALS.has(s.ref) ? refNode(s.ref) : refNode(s.ref, { default: {} });
  if (s.type in ZERO && s.format !== 'byte') return { ...s, default: ZERO[s.type] };
  return s;
}

function propertyNode(schema, description, fieldDefault, markers) {
  const extra = {};
  if (description) extra.description = description;
  if (fieldDefault !== undefined) extra.default = fieldDefault;
  const node = schema.ref ? refNode(schema.ref, extra) : { ...schema, ...extra };
  if (markers?.patchStrategy) node['x-kubernetes-patch-strategy'] = markers.patchStrategy;
  if (markers?.patchMergeKey) node['x-kubernetes-patch-merge-key'] = markers.patchMergeKey;
  if (markers?.listType) node['x-kubernetes-list-type'] = markers.listType;
  if (markers?.listMapKeys) node['x-kubernetes-list-map-keys'] = markers.listMapKeys;
  if (markers?.mapType) node['x-kubernetes-map-type'] = markers.mapType;
  return node;
}

// ---------------------------------------------------------------------------------------------
// The walk: from the served kinds (and the meta kinds their endpoints use) through every field.

const gvk = (group, version, kind) => ({ group, kind, version });
const servedGroupVersions = [{ group: '', version: 'v1' }, ...groups().filter((g) => g.group !== '').flatMap((g) => g.versions.map((version) => ({ group: g.group, version })))];

/** Root model classes and the x-kubernetes-group-version-kind of their definitions. */
const roots = new Map();
for (const r of RESOURCES) {
  roots.set(kindClass(r.group, r.version, r.kind), [gvk(r.group, r.version, r.kind)]);
  roots.set(kindClass(r.group, r.version, r.listKind), [gvk(r.group, r.version, r.listKind)]);
}
roots.set('V1Scale', [gvk('autoscaling', 'v1', 'Scale')]);
roots.set('V1Binding', [gvk('', 'v1', 'Binding')]);
roots.set('V1Status', [gvk('', 'v1', 'Status')]);
roots.set('V1APIResourceList', [gvk('', 'v1', 'APIResourceList')]);
roots.set('V1DeleteOptions', servedGroupVersions.map((gv) => gvk(gv.group, gv.version, 'DeleteOptions')));
roots.set('V1WatchEvent', servedGroupVersions.map((gv) => gvk(gv.group, gv.version, 'WatchEvent')));

const definitions = {};
// Found while walking: client-node repeats the IntOrString type's own description on its fields.
let intOrStringDescription = '';
const classToDefinition = new Map();
const queue = [];

function enqueueClass(className, referrerPkg) {
  if (!classToDefinition.has(className)) {
    classToDefinition.set(className, definitionName(className, referrerPkg));
    queue.push(className);
  }
  return classToDefinition.get(className);
}

for (const className of roots.keys()) enqueueClass(className);

while (queue.length) {
  const className = queue.shift();
  const name = classToDefinition.get(className);
  const shortName = name.slice(name.lastIndexOf('.') + 1);
  const pkg = name.slice(0, name.lastIndexOf('.'));
  const model = await loadClass(className);
  const typesDeclaration = (typesIndex.get(shortName) ?? []).find((d) => d.pkg === pkg);
  const kinds = roots.get(className);
  const properties = {};
  const required = [];
  for (const attr of model.attributes) {
    const field = attr.baseName;
    const member = model.members.get(attr.name);
    const typesMember = typesDeclaration?.members.get(field);
    const schema = typeSchema(attr.type, attr.format, typesMember?.type ?? '', (cls) => enqueueClass(cls, pkg));
    // client-node gives IntOrString and MicroTime fields the type's description instead of their own.
    const text = TYPE_DESCRIBED.has(attr.type) ? typesMember?.description ?? '' : description(member?.description ?? '', typesMember?.description);
    const isRequired = member && !member.optional;
    if (isRequired) required.push(field);
    let fieldDefault = FIELD_DEFAULTS[name]?.[field];
    if (fieldDefault === undefined && isRequired && schema.type in ZERO) fieldDefault = ZERO[schema.type];
    if (fieldDefault === undefined && kinds && ['metadata', 'spec', 'status'].includes(field) && schema.ref) fieldDefault = {};
    properties[field] = propertyNode(schema, text, fieldDefault, FIELD_MARKERS[name]?.[field]);
    if (attr.type === 'IntOrString') intOrStringDescription ||= unescapeClientNode(member?.description ?? '');
  }
  const definition = { description: description(model.description, typesDeclaration?.description), type: 'object', properties };
  if (required.length) definition.required = required;
  if (kinds) definition['x-kubernetes-group-version-kind'] = kinds;
  if (DEFINITION_MAP_TYPE[name]) definition['x-kubernetes-map-type'] = DEFINITION_MAP_TYPE[name];
  if (DEFINITION_UNIONS[name]) definition['x-kubernetes-unions'] = DEFINITION_UNIONS[name];
  definitions[name] = definition;
}

// The types client-node inlines or leaves out, as upstream defines them.
const described = (typeName) => typesDecl(typeName).description;
Object.assign(definitions, {
  [TIME]: { description: described('Time'), type: 'string', format: 'date-time' },
  [MICRO_TIME]: { description: described('MicroTime'), type: 'string', format: 'date-time' },
  [QUANTITY]: { description: described('Quantity'), oneOf: [{ type: 'string' }, { type: 'number' }], 'x-kubernetes-int-or-string': true },
  [INT_OR_STRING]: { description: intOrStringDescription, format: 'int-or-string', oneOf: [{ type: 'integer' }, { type: 'string' }], 'x-kubernetes-int-or-string': true },
  [FIELDS_V1]: { description: described('FieldsV1'), type: 'object' },
  [RAW_EXTENSION]: { description: described('RawExtension'), type: 'object' },
  // The PATCH request body of every resource.
  [`${META}.Patch`]: { description: described('Patch'), type: 'object' },
});

// Every marker must land on something that exists: a typo or a renamed field would silently drop it.
for (const table of [FIELD_MARKERS, FIELD_DEFAULTS]) {
  for (const [name, fields] of Object.entries(table)) {
    for (const field of Object.keys(fields)) {
      if (!definitions[name]?.properties?.[field]) throw new Error(`gen-openapi: patch-metadata names unknown field ${name}.${field}`);
    }
  }
}
for (const name of [...Object.keys(DEFINITION_MAP_TYPE), ...Object.keys(DEFINITION_UNIONS)]) {
  if (!definitions[name]) throw new Error(`gen-openapi: patch-metadata names unknown definition ${name}`);
}

const sorted = Object.fromEntries(Object.keys(definitions).sort().map((k) => [k, definitions[k]]));
fs.mkdirSync(path.dirname(outFile), { recursive: true });
fs.writeFileSync(outFile, JSON.stringify(sorted));
console.log(`gen-openapi: ${Object.keys(sorted).length} definitions → ${path.relative(root, outFile)}` +
  ` (${inheritedPackage.length} types newer than kubernetes-types placed in their referrer's package)`);
