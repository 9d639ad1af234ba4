/**
 * One zod schema per input format. Objects are loose: only the fields daemonless reads are validated (kind,
 * apiVersion, metadata.name/namespace, a Pod's spec.nodeName and required node-affinity matchFields, a Binding's
 * target); everything else passes through unread. Kubernetes objects nested in an envelope are typed `unknown` there
 * and parsed with `KubeObjectSchema` only once the envelope says the object matters (an audit event for a resource we
 * do not handle must not fail the batch because its object is shaped differently).
 */
import * as z from 'zod';
import { daemonSetNameError, namespaceError, nodeNameError, podNameError } from '../core/refs.ts';
import { MAX_HINTED_PODS } from '../hints.ts';

// ---------------------------------------------------------------------------------------------------------------
// Kubernetes objects

const ObjectMetaSchema = z.looseObject({
  name: z.string().min(1),
  namespace: z.string().optional(),
});

const ObjectHeaderSchema = z.looseObject({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  metadata: ObjectMetaSchema,
});

const NodeSelectorRequirementSchema = z.looseObject({
  key: z.string(),
  operator: z.string(),
  values: z.array(z.string()).nullish(),
});

/** The parts of a PodSpec that name the node a pod is (or will be) on. */
const PodSpecSchema = z.looseObject({
  nodeName: z.string().nullish(),
  affinity: z
    .looseObject({
      nodeAffinity: z
        .looseObject({
          requiredDuringSchedulingIgnoredDuringExecution: z
            .looseObject({
              nodeSelectorTerms: z.array(
                z.looseObject({ matchFields: z.array(NodeSelectorRequirementSchema).nullish() }),
              ),
            })
            .nullish(),
        })
        .nullish(),
    })
    .nullish(),
});

export type PodSpecFields = z.infer<typeof PodSpecSchema>;

const OwnerReferenceSchema = z.looseObject({ apiVersion: z.string(), kind: z.string(), name: z.string().min(1), controller: z.boolean().nullish() });

const PodFieldsSchema = z.looseObject({
  metadata: z.looseObject({ ownerReferences: z.array(OwnerReferenceSchema).nullish(), deletionTimestamp: z.string().nullish() }),
  spec: PodSpecSchema.nullish(),
});

/** `v1 Binding`, the body of a `pods/binding` create (how the scheduler binds a pod to a node). */
const BindingFieldsSchema = z.looseObject({
  target: z.looseObject({ kind: z.string().optional(), name: z.string().min(1) }),
});

/** The minimal view of any Kubernetes object that the mapping rules read. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string | undefined };
  /** Only for `v1 Pod`. */
  podSpec?: PodSpecFields | null | undefined;
  /** Only for `v1 Pod`: being deleted (graceful deletion started: `metadata.deletionTimestamp` set). */
  terminating?: boolean;
  /** Only for `v1 Pod`: its controller (the owner reference with `controller: true`), if any. */
  controller?: { apiVersion: string; kind: string; name: string } | undefined;
  /** Only for `v1 Binding`: the node the pod is bound to. */
  bindingTarget?: { kind?: string | undefined; name: string };
}

/**
 * Any Kubernetes object. Kind-specific fields are validated only for the kinds that use them, so an unhandled kind
 * with an unusual `spec` is still accepted (and then ignored with a reason).
 */
export const KubeObjectSchema = ObjectHeaderSchema.transform((obj, ctx): KubeObject => {
  const head: KubeObject = {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace },
  };
  if (obj.apiVersion === 'v1' && obj.kind === 'Node') {
    checkNodeName(ctx, obj, obj.metadata.name, ['metadata', 'name']);
    return head;
  }
  if (isDaemonSetKind(obj.apiVersion, obj.kind)) {
    checkDaemonSetRef(ctx, obj, obj.metadata.namespace, obj.metadata.name, ['metadata', 'name']);
    return head;
  }
  if (obj.apiVersion === 'v1' && obj.kind === 'Pod') {
    const pod = PodFieldsSchema.safeParse(obj);
    if (!pod.success) return fail(ctx, obj, pod.error);
    const spec = pod.data.spec;
    if (spec?.nodeName) checkNodeName(ctx, obj, spec.nodeName, ['spec', 'nodeName']);
    spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms.forEach((term, t) =>
      term.matchFields?.forEach((field, f) => {
        if (field.key !== 'metadata.name') return;
        const at = ['spec', 'affinity', 'nodeAffinity', 'requiredDuringSchedulingIgnoredDuringExecution', 'nodeSelectorTerms', t, 'matchFields', f, 'values'];
        field.values?.forEach((value, v) => checkNodeName(ctx, obj, value, [...at, v]));
      }),
    );
    const owner = pod.data.metadata.ownerReferences?.find((o) => o.controller === true);
    if (owner && isDaemonSetKind(owner.apiVersion, owner.kind)) {
      const index = pod.data.metadata.ownerReferences?.indexOf(owner) ?? 0;
      checkDaemonSetRef(ctx, obj, obj.metadata.namespace, owner.name, ['metadata', 'ownerReferences', index, 'name']);
    }
    return {
      ...head,
      podSpec: spec,
      ...(pod.data.metadata.deletionTimestamp ? { terminating: true } : {}),
      ...(owner ? { controller: { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name } } : {}),
    };
  }
  if (obj.apiVersion === 'v1' && obj.kind === 'Binding') {
    const binding = BindingFieldsSchema.safeParse(obj);
    if (!binding.success) return fail(ctx, obj, binding.error);
    if (binding.data.target.kind === undefined || binding.data.target.kind === 'Node') checkNodeName(ctx, obj, binding.data.target.name, ['target', 'name']);
    return { ...head, bindingTarget: { kind: binding.data.target.kind, name: binding.data.target.name } };
  }
  return head;
});

/**
 * Node names end up in field selectors (`spec.nodeName=<name>`), where a `,` or `=` would change the query: anything
 * but a DNS-1123 subdomain is refused here, with the path of the field.
 */
function checkNodeName(ctx: z.core.$RefinementCtx, input: unknown, name: string, path: (string | number)[]): void {
  const problem = nodeNameError(name);
  if (problem !== null) ctx.issues.push({ code: 'custom', message: `not a node name: ${problem}`, path, input });
}

function isDaemonSetKind(apiVersion: string, kind: string): boolean {
  return (apiVersion === 'apps/v1' && kind === 'DaemonSet') || (apiVersion === 'daemonless.dev/v1alpha1' && kind === 'ServerlessDaemonSet');
}

/**
 * A DaemonSet's namespace and name go into request paths: anything but a DNS-1123 label (namespace) and subdomain
 * (name) is refused here, as no API server would have stored it.
 */
function checkDaemonSetRef(ctx: z.core.$RefinementCtx, input: unknown, namespace: string | undefined, name: string, path: (string | number)[]): void {
  const nsProblem = namespace === undefined ? null : namespaceError(namespace);
  if (nsProblem !== null) ctx.issues.push({ code: 'custom', message: `not a namespace: ${nsProblem}`, path: ['metadata', 'namespace'], input });
  const problem = daemonSetNameError(name);
  if (problem !== null) ctx.issues.push({ code: 'custom', message: `not a DaemonSet name: ${problem}`, path, input });
}

function fail(ctx: z.core.$RefinementCtx, input: unknown, error: z.ZodError): never {
  for (const issue of error.issues) ctx.issues.push({ ...issue, input } as z.core.$ZodRawIssue);
  return z.NEVER;
}

/** `corev1.ObjectReference`, the data of a Knative ApiServerSource event in Reference mode. */
export const ObjectReferenceSchema = z
  .looseObject({
    apiVersion: z.string().min(1),
    kind: z.string().min(1),
    name: z.string().min(1),
    namespace: z.string().optional(),
  })
  .superRefine((ref, ctx) => {
    if (ref.apiVersion === 'v1' && ref.kind === 'Node') checkNodeName(ctx, ref, ref.name, ['name']);
  });

export type ObjectReference = z.infer<typeof ObjectReferenceSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Kubernetes watch events: what `kubectl get -w -o json` / `?watch=1` stream, one JSON object per line.

export const WatchEventSchema = z.looseObject({
  type: z.enum(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']),
  object: z.unknown().optional(),
});

export type WatchEvent = z.infer<typeof WatchEventSchema>;

// ---------------------------------------------------------------------------------------------------------------
// AdmissionReview (admission.k8s.io/v1; v1beta1 has the same request/response shape and is echoed back as such).

export const AdmissionReviewSchema = z.looseObject({
  apiVersion: z.enum(['admission.k8s.io/v1', 'admission.k8s.io/v1beta1']),
  kind: z.literal('AdmissionReview'),
  request: z.looseObject({
    uid: z.string().min(1),
    operation: z.string().min(1),
    subResource: z.string().optional(),
    namespace: z.string().optional(),
    dryRun: z.boolean().nullish(),
    // Parsed later, leniently: bad contents must still be answered allowed:true.
    object: z.unknown().optional(),
    oldObject: z.unknown().optional(),
  }),
});

export type AdmissionReview = z.infer<typeof AdmissionReviewSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Audit (audit.k8s.io/v1 EventList, what the audit webhook backend POSTs; batch mode sends many per request).

export const AuditObjectRefSchema = z.looseObject({
  resource: z.string().optional(),
  namespace: z.string().optional(),
  name: z.string().optional(),
  apiGroup: z.string().optional(),
  apiVersion: z.string().optional(),
  subresource: z.string().optional(),
});

export const AuditEventSchema = z.looseObject({
  stage: z.string().min(1),
  verb: z.string().min(1),
  objectRef: AuditObjectRefSchema.optional(),
  responseStatus: z.looseObject({ code: z.number().int().optional() }).optional(),
  requestObject: z.unknown().optional(),
  responseObject: z.unknown().optional(),
  /** When the API server completed the request (RFC 3339, microseconds); for the latency trace only. */
  stageTimestamp: z.string().optional(),
});

export type AuditEvent = z.infer<typeof AuditEventSchema>;

export const AuditEventListSchema = z.looseObject({
  apiVersion: z.literal('audit.k8s.io/v1'),
  kind: z.literal('EventList'),
  items: z.array(AuditEventSchema).nullish(),
});

export type AuditEventList = z.infer<typeof AuditEventListSchema>;

// ---------------------------------------------------------------------------------------------------------------
// CloudEvents 1.0 (structured mode body, or binary mode headers gathered into the same shape).

export const CloudEventSchema = z.looseObject({
  specversion: z.literal('1.0'),
  id: z.string().min(1),
  source: z.string().min(1),
  type: z.string().min(1),
  subject: z.string().optional(),
  datacontenttype: z.string().optional(),
  data: z.unknown().optional(),
  data_base64: z.string().optional(),
});

export type CloudEvent = z.infer<typeof CloudEventSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Hints, as carried by a deferred (asynchronous self-) invocation on Lambda. Mirrors src/hints.ts.

export const HintSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('node'), name: z.string().refine((name) => nodeNameError(name) === null, 'not a node name') }),
  z.object({
    kind: z.literal('daemonSet'),
    namespace: z.string().refine((ns) => namespaceError(ns) === null, 'not a namespace'),
    name: z.string().refine((name) => daemonSetNameError(name) === null, 'not a DaemonSet name'),
    uid: z.string().min(1).optional(),
    type: z.literal('ServerlessDaemonSet').optional(),
    pods: z
      .array(z.string().refine((name) => podNameError(name) === null, 'not a pod name'))
      .max(MAX_HINTED_PODS)
      .optional(),
  }),
  z.object({ kind: z.literal('resync') }),
]);
