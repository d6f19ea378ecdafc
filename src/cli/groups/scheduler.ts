// The scheduler group of `kubelite up` (kube-scheduler). Loaded only where the group runs (components.ts).
import { controllerContext } from '../../client/factory.js';
import { Scheduler } from '../../scheduler/scheduler.js';
import type { GroupEnv } from '../components.js';

export async function start({ o, newClient, onStop }: GroupEnv): Promise<void> {
  const ctx = controllerContext(newClient('kube-scheduler'));
  const scheduler = new Scheduler(ctx);
  await scheduler.start();
  onStop(() => scheduler.stop(), () => ctx.informers.stop());
  o.log.info({ component: 'scheduler' }, 'scheduler running');
}
