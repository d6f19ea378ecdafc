// Server-side apply and managedFields (structured-merge-diff v4 and k8s.io/apiserver's field
// manager semantics). The registry calls `recordUpdate` after every create, update and patch,
// `recordScaleUpdate` after a scale write, and `apply` for application/apply-patch+yaml.
export { apply } from './apply.js';
export {
  defaultManager, nowRFC3339, recordScaleUpdate, recordUpdate, scaleManagedFields, validateWriteOptions,
  type ManagedFieldsEntry, type ManagerInfo,
} from './managed.js';
