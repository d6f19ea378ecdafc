// What both proxy modes watch: Services and their EndpointSlices. Any change to either becomes
// the key of the Service to re-program; slices are indexed by the Service they belong to.
import type { Service } from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import { keyOf, type Informer } from '../client/informer.js';
import type { KObject } from '../api/types.js';
import { ANNOTATION_TRIGGER_TIME, LABEL_SERVICE_NAME } from './endpoints.js';

export type ServiceObject = Service & KObject;
export type SliceObject = EndpointSlice & KObject;

/** Index of the slices informer: `namespace/service` → its slices. */
export const SLICES_BY_SERVICE = 'kubelite-proxy/service';

/**
 * Index the slices by Service and call `changed(key)` for every Service change and every slice
 * change (for a slice moved to another Service, both). `triggerMs` is the slice's
 * last-change-trigger-time, the start of the network-programming latency upstream measures.
 */
export function watchServices(
  services: Informer<ServiceObject>,
  slices: Informer<SliceObject>,
  changed: (key: string, triggerMs?: number) => void,
): void {
  slices.addIndex(SLICES_BY_SERVICE, (s) => {
    const name = s.metadata.labels?.[LABEL_SERVICE_NAME];
    return name ? [`${s.metadata.namespace}/${name}`] : [];
  });
  services.on({
    add: (s) => changed(keyOf(s)),
    update: (_, s) => changed(keyOf(s)),
    delete: (s) => changed(keyOf(s)),
  });
  const sliceChanged = (s: SliceObject) => {
    const name = s.metadata.labels?.[LABEL_SERVICE_NAME];
    if (!name) return; // upstream ignores slices that name no Service
    const trigger = Date.parse(s.metadata.annotations?.[ANNOTATION_TRIGGER_TIME] ?? '');
    changed(`${s.metadata.namespace}/${name}`, Number.isNaN(trigger) ? undefined : trigger);
  };
  slices.on({
    add: sliceChanged,
    update: (old, s) => {
      if (old.metadata.labels?.[LABEL_SERVICE_NAME] !== s.metadata.labels?.[LABEL_SERVICE_NAME]) sliceChanged(old);
      sliceChanged(s);
    },
    delete: sliceChanged,
  });
}
