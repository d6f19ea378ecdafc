// The registry hands recordUpdate the store's record of the object it updates; when this process
// wrote that record, the entries decoded then are used instead of decoding the stored JSON again.
// Both ways must give byte-identical managedFields, write after write.
import { describe, test, mock } from 'node:test';
import assert from 'node:assert/strict';
import type { KObject } from '../src/api/types.js';
import { recordUpdate, rememberStoredManaged } from '../src/apiserver/fieldmanager/index.js';

/** A deterministic pseudo-random sequence (the same writes on every run). */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

function pod(): KObject {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'p', namespace: 'default', uid: 'u', creationTimestamp: '2026-11-27T00:00:00Z', labels: { app: 'web' } },
    spec: { containers: [{ name: 'web', image: 'nginx:1.27', ports: [{ containerPort: 80, protocol: 'TCP' }] }] },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }, { type: 'ContainersReady', status: 'True' }] },
  } as KObject;
}

/** One random write: a status condition flip, a label change, an image change or a new condition. */
function mutate(o: KObject, rnd: () => number, step: number): { next: KObject; subresource?: string } {
  const next = JSON.parse(JSON.stringify(o)) as KObject & { spec: any; status: any };
  delete next.metadata.managedFields;
  const r = rnd();
  if (r < 0.4) {
    for (const c of next.status.conditions) if (rnd() < 0.6) c.status = c.status === 'True' ? 'False' : 'True';
    if (rnd() < 0.3) next.status.conditions.push({ type: `example.com/gate-${step}`, status: 'True' });
    if (rnd() < 0.2) next.status.message = `m${step}`;
    return { next, subresource: 'status' };
  }
  if (r < 0.7) next.metadata.labels = { ...next.metadata.labels, [`l${Math.floor(rnd() * 3)}`]: `v${step}` };
  else if (r < 0.85) next.spec.containers[0].image = `nginx:1.${step}`;
  else if (next.metadata.labels && Object.keys(next.metadata.labels).length > 1) delete next.metadata.labels[Object.keys(next.metadata.labels).pop()!];
  return { next };
}

describe('managedFields of records this process wrote', () => {
  test('using the entries remembered for the stored record gives the same managedFields as decoding them', () => {
    mock.timers.enable({ apis: ['Date'], now: Date.parse('2026-11-27T18:00:00Z') });
    try {
      const managers = ['kubelet', 'kube-controller-manager', 'kubectl', 'helm'];
      for (const seed of [1, 2, 3]) {
        const rnd = random(seed);
        // Two histories of the same writes: one decodes the stored entries each time, the other
        // passes the record they were remembered for, as the registry does after a store write.
        let decoded = pod();
        recordUpdate('v1', 'Pod', undefined, decoded, 'creator');
        decoded = JSON.parse(JSON.stringify(decoded)) as KObject;
        let remembered = JSON.parse(JSON.stringify(decoded)) as KObject;
        let record: object = {};
        let hits = 0;
        for (let step = 0; step < 200; step++) {
          // Some writes are a second apart, so entry times and their order vary too.
          if (rnd() < 0.5) mock.timers.tick(1000);
          const manager = managers[Math.floor(rnd() * managers.length)]!;
          const { next, subresource } = mutate(decoded, rnd, step);
          const other = JSON.parse(JSON.stringify(next)) as KObject;
          recordUpdate('v1', 'Pod', decoded, next, manager, subresource);
          const managed = recordUpdate('v1', 'Pod', remembered, other, manager, subresource, record);
          assert.equal(JSON.stringify(other), JSON.stringify(next), `step ${step} (seed ${seed})`);
          // Stored and read back: a new record, remembered with what the write encoded.
          decoded = JSON.parse(JSON.stringify(next)) as KObject;
          remembered = JSON.parse(JSON.stringify(other)) as KObject;
          record = {};
          if (managed) {
            rememberStoredManaged(record, managed);
            hits++;
          }
        }
        assert.ok(hits > 150, `most writes remembered their entries (${hits})`);
      }
    } finally {
      mock.timers.reset();
    }
  });
});
