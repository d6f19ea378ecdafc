// Shared informers: every component in one process that watches a resource shares one informer
// (one list, one watch, one cache), as client-go's SharedInformerFactory does.
import type { RestClient } from './rest.js';
import { Informer, type InformerOptions } from './informer.js';
import { EventRecorder, type EventSource } from './events.js';
import { RESOURCES, type ResourceType } from '../api/resources.js';
import type { KObject } from '../api/types.js';

export class InformerFactory {
  private readonly informers = new Map<string, Informer>();

  constructor(readonly client: RestClient) {}

  /**
   * The shared informer of a resource, by plural name (`pods`, `deployments`, ...), all
   * namespaces. Its cache keeps objects without managedFields, as upstream's components do.
   */
  informer<T extends KObject = KObject>(plural: string): Informer<T> {
    let inf = this.informers.get(plural);
    if (!inf) {
      const r = RESOURCES.find((x) => x.plural === plural);
      if (!r) throw new Error(`unknown resource ${plural}`);
      inf = new Informer(this.client, r, { omitManagedFields: true });
      this.informers.set(plural, inf);
    }
    return inf as unknown as Informer<T>;
  }

  /**
   * A shared informer of a resource that caches only a selection of its objects (see
   * InformerOptions.select), under a name of its own: every user of `name` gets the same one.
   */
  selectedInformer<T extends KObject = KObject>(plural: string, name: string, select: NonNullable<InformerOptions<T>['select']>): Informer<T> {
    const key = `${plural}#${name}`;
    let inf = this.informers.get(key);
    if (!inf) {
      const r = RESOURCES.find((x) => x.plural === plural);
      if (!r) throw new Error(`unknown resource ${plural}`);
      inf = new Informer<T>(this.client, r, { omitManagedFields: true, select }) as unknown as Informer;
      this.informers.set(key, inf);
    }
    return inf as unknown as Informer<T>;
  }

  resource(plural: string): ResourceType {
    return this.informer(plural).resource;
  }

  /** Start every informer created so far; resolves when all have synced. */
  async start(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.start()));
  }

  stop(): void {
    for (const i of this.informers.values()) i.stop();
  }
}

/** What every controller gets: the API client, shared informers and event recording. */
export interface ControllerContext {
  client: RestClient;
  informers: InformerFactory;
  recorder(source: EventSource): EventRecorder;
}

export function controllerContext(client: RestClient): ControllerContext {
  const informers = new InformerFactory(client);
  const recorders = new Map<string, EventRecorder>();
  return {
    client,
    informers,
    recorder(source) {
      const key = `${source.component}/${source.host ?? ''}`;
      let r = recorders.get(key);
      if (!r) recorders.set(key, (r = new EventRecorder(client, source)));
      return r;
    },
  };
}
