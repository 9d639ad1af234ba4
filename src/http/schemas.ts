/**
 * One zod schema per input format. Objects are loose: only the fields daemonless reads are validated (kind,
 * apiVersion, metadata.name/namespace, a Pod's spec.nodeName and required node-affinity matchFields, a Binding's
 * target); everything else passes through unread. Kubernetes objects nested in an envelope are typed `unknown` there
 * and parsed with `KubeObjectSchema` only once the envelope says the object matters (an audit event for a resource we
 * do not handle must not fail the batch because its object is shaped differently).
 */
import * as z from '../zod.ts';
import { daemonSetNameError, namespaceError, nodeNameError, podNameError } from '../core/refs.ts';
import { MAX_HINTED_PODS, type RegisteredNode } from '../hints.ts';

const nonEmpty = () => z.string().check(z.minLength(1));

/** A string a name check (core/refs.ts: null, or what is wrong) accepts. */
const validName = (problem: (name: string) => string | null, message: string) =>
  z.string().check(z.refine((name: string) => problem(name) === null, message));

/** Where the checks below report: a transform's or a refinement's context. */
interface IssueSink {
  issues: z.core.$ZodRawIssue[];
}

// ---------------------------------------------------------------------------------------------------------------
// Kubernetes objects

const ObjectMetaSchema = z.looseObject({
  name: nonEmpty(),
  namespace: z.optional(z.string()),
});

const ObjectHeaderSchema = z.looseObject({
  apiVersion: nonEmpty(),
  kind: nonEmpty(),
  metadata: ObjectMetaSchema,
});

const NodeSelectorRequirementSchema = z.looseObject({
  key: z.string(),
  operator: z.string(),
  values: z.nullish(z.array(z.string())),
});

/** The parts of a PodSpec that name the node a pod is (or will be) on. */
const PodSpecSchema = z.looseObject({
  nodeName: z.nullish(z.string()),
  affinity: z.nullish(
    z.looseObject({
      nodeAffinity: z.nullish(
        z.looseObject({
          requiredDuringSchedulingIgnoredDuringExecution: z.nullish(
            z.looseObject({
              nodeSelectorTerms: z.array(z.looseObject({ matchFields: z.nullish(z.array(NodeSelectorRequirementSchema)) })),
            }),
          ),
        }),
      ),
    }),
  ),
});

export type PodSpecFields = z.infer<typeof PodSpecSchema>;

const OwnerReferenceSchema = z.looseObject({ apiVersion: z.string(), kind: z.string(), name: nonEmpty(), controller: z.nullish(z.boolean()) });

/** What the mapping reads of an owned object's metadata (pods, ControllerRevisions). */
const OwnedMetadataSchema = z.looseObject({
  ownerReferences: z.nullish(z.array(OwnerReferenceSchema)),
  deletionTimestamp: z.nullish(z.string()),
  labels: z.nullish(z.record(z.string(), z.string())),
});

const PodFieldsSchema = z.looseObject({
  metadata: OwnedMetadataSchema,
  spec: z.nullish(PodSpecSchema),
});

const RevisionFieldsSchema = z.looseObject({ metadata: OwnedMetadataSchema });

/** `v1 Binding`, the body of a `pods/binding` create (how the scheduler binds a pod to a node). */
const BindingFieldsSchema = z.looseObject({
  target: z.looseObject({ kind: z.optional(z.string()), name: nonEmpty() }),
});

const TaintSchema = z.looseObject({ key: z.string(), value: z.nullish(z.string()), effect: z.string() });

/** What eligibility reads of a node (Hint `registered`): its labels and taints. */
const NodeFieldsSchema = z.looseObject({
  metadata: z.looseObject({ labels: z.nullish(z.record(z.string(), z.string())) }),
  spec: z.nullish(z.looseObject({ taints: z.nullish(z.array(TaintSchema)) })),
});

/** The minimal view of any Kubernetes object that the mapping rules read. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string | undefined };
  /** Only for `v1 Pod`. */
  podSpec?: PodSpecFields | null | undefined;
  /** Only for `v1 Pod` and `apps/v1 ControllerRevision`: being deleted (`metadata.deletionTimestamp` set). */
  terminating?: boolean;
  /** Only for `v1 Pod` and `apps/v1 ControllerRevision`: its labels, if any (an orphan's decide which DaemonSets may adopt it). */
  labels?: Record<string, string>;
  /** Only for `v1 Pod` and `apps/v1 ControllerRevision`: its controller (the owner reference with `controller: true`), if any. */
  controller?: { apiVersion: string; kind: string; name: string } | undefined;
  /** Only for `v1 Binding`: the node the pod is bound to. */
  bindingTarget?: { kind?: string | undefined; name: string };
  /** Only for `v1 Node`, parsed from its body: its labels and taints. */
  node?: RegisteredNode;
}

/**
 * Any Kubernetes object. Kind-specific fields are validated only for the kinds that use them, so an unhandled kind
 * with an unusual `spec` is still accepted (and then ignored with a reason).
 */
export const KubeObjectSchema = z.pipe(
  ObjectHeaderSchema,
  z.transform((obj: z.output<typeof ObjectHeaderSchema>, ctx): KubeObject => {
  const head: KubeObject = {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace },
  };
  if (obj.apiVersion === 'v1' && obj.kind === 'Node') {
    checkNodeName(ctx, obj, obj.metadata.name, ['metadata', 'name']);
    const node = NodeFieldsSchema.safeParse(obj);
    if (!node.success) return fail(ctx, obj, node.error);
    const labels = node.data.metadata.labels ?? undefined;
    const taints = node.data.spec?.taints?.map((t) => ({ key: t.key, effect: t.effect, ...(t.value ? { value: t.value } : {}) }));
    return { ...head, node: { ...(labels ? { labels } : {}), ...(taints?.length ? { taints } : {}) } };
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
    return { ...head, podSpec: spec, ...ownedFields(ctx, obj, pod.data.metadata) };
  }
  if (obj.apiVersion === 'apps/v1' && obj.kind === 'ControllerRevision') {
    const revision = RevisionFieldsSchema.safeParse(obj);
    if (!revision.success) return fail(ctx, obj, revision.error);
    return { ...head, ...ownedFields(ctx, obj, revision.data.metadata) };
  }
  if (obj.apiVersion === 'v1' && obj.kind === 'Binding') {
    const binding = BindingFieldsSchema.safeParse(obj);
    if (!binding.success) return fail(ctx, obj, binding.error);
    if (binding.data.target.kind === undefined || binding.data.target.kind === 'Node') checkNodeName(ctx, obj, binding.data.target.name, ['target', 'name']);
    return { ...head, bindingTarget: { kind: binding.data.target.kind, name: binding.data.target.name } };
  }
  return head;
}),
);

/** An owned object's labels, deletion mark and controller, as the mapping reads them. */
function ownedFields(
  ctx: IssueSink,
  obj: z.output<typeof ObjectHeaderSchema>,
  metadata: z.output<typeof OwnedMetadataSchema>,
): Pick<KubeObject, 'labels' | 'terminating' | 'controller'> {
  const owner = metadata.ownerReferences?.find((o) => o.controller === true);
  // The owner's name is not checked here: the API server stores any non-empty name in an ownerReference, so an object
  // that names no possible DaemonSet is a valid object (hintFromObject ignores it), not bad input.
  if (owner && isDaemonSetKind(owner.apiVersion, owner.kind)) checkNamespace(ctx, obj, obj.metadata.namespace);
  const labels = metadata.labels;
  return {
    ...(labels && Object.keys(labels).length > 0 ? { labels } : {}),
    ...(metadata.deletionTimestamp ? { terminating: true } : {}),
    ...(owner ? { controller: { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name } } : {}),
  };
}

/**
 * Node names end up in field selectors (`spec.nodeName=<name>`), where a `,` or `=` would change the query: anything
 * but a DNS-1123 subdomain is refused here, with the path of the field.
 */
function checkNodeName(ctx: IssueSink, input: unknown, name: string, path: (string | number)[]): void {
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
function checkDaemonSetRef(
  ctx: IssueSink,
  input: unknown,
  namespace: string | undefined,
  name: string,
  path: (string | number)[],
  namespacePath: (string | number)[] = ['metadata', 'namespace'],
): void {
  checkNamespace(ctx, input, namespace, namespacePath);
  const problem = daemonSetNameError(name);
  if (problem !== null) ctx.issues.push({ code: 'custom', message: `not a DaemonSet name: ${problem}`, path, input });
}

function checkNamespace(ctx: IssueSink, input: unknown, namespace: string | undefined, path: (string | number)[] = ['metadata', 'namespace']): void {
  const problem = namespace === undefined ? null : namespaceError(namespace);
  if (problem !== null) ctx.issues.push({ code: 'custom', message: `not a namespace: ${problem}`, path, input });
}

function fail(ctx: IssueSink, input: unknown, error: z.core.$ZodError): never {
  for (const issue of error.issues) ctx.issues.push({ ...issue, input } as z.core.$ZodRawIssue);
  return z.NEVER;
}

/** `corev1.ObjectReference`, the data of a Knative ApiServerSource event in Reference mode. */
const ObjectReferenceFields = z.looseObject({
  apiVersion: nonEmpty(),
  kind: nonEmpty(),
  name: nonEmpty(),
  namespace: z.optional(z.string()),
});

export const ObjectReferenceSchema = ObjectReferenceFields.check(
  z.superRefine((ref: z.output<typeof ObjectReferenceFields>, ctx) => {
    if (ref.apiVersion === 'v1' && ref.kind === 'Node') checkNodeName(ctx, ref, ref.name, ['name']);
    if (isDaemonSetKind(ref.apiVersion, ref.kind)) checkDaemonSetRef(ctx, ref, ref.namespace, ref.name, ['name'], ['namespace']);
  }),
);

export type ObjectReference = z.infer<typeof ObjectReferenceSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Kubernetes watch events: what `kubectl get -w -o json` / `?watch=1` stream, one JSON object per line.

export const WatchEventSchema = z.looseObject({
  type: z.enum(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']),
  object: z.optional(z.unknown()),
});

export type WatchEvent = z.infer<typeof WatchEventSchema>;

// ---------------------------------------------------------------------------------------------------------------
// AdmissionReview (admission.k8s.io/v1; v1beta1 has the same request/response shape and is echoed back as such).

export const AdmissionReviewSchema = z.looseObject({
  apiVersion: z.enum(['admission.k8s.io/v1', 'admission.k8s.io/v1beta1']),
  kind: z.literal('AdmissionReview'),
  request: z.looseObject({
    uid: nonEmpty(),
    operation: nonEmpty(),
    subResource: z.optional(z.string()),
    namespace: z.optional(z.string()),
    dryRun: z.nullish(z.boolean()),
    // Parsed later, leniently: bad contents must still be answered allowed:true.
    object: z.optional(z.unknown()),
    oldObject: z.optional(z.unknown()),
  }),
});

export type AdmissionReview = z.infer<typeof AdmissionReviewSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Audit (audit.k8s.io/v1 EventList, what the audit webhook backend POSTs; batch mode sends many per request).

export const AuditObjectRefSchema = z.looseObject({
  resource: z.optional(z.string()),
  namespace: z.optional(z.string()),
  name: z.optional(z.string()),
  apiGroup: z.optional(z.string()),
  apiVersion: z.optional(z.string()),
  subresource: z.optional(z.string()),
});

export const AuditEventSchema = z.looseObject({
  stage: nonEmpty(),
  verb: nonEmpty(),
  objectRef: z.optional(AuditObjectRefSchema),
  responseStatus: z.optional(z.looseObject({ code: z.optional(z.int()) })),
  requestObject: z.optional(z.unknown()),
  responseObject: z.optional(z.unknown()),
  /** When the API server completed the request (RFC 3339, microseconds); for the latency trace only. */
  stageTimestamp: z.optional(z.string()),
});

export type AuditEvent = z.infer<typeof AuditEventSchema>;

export const AuditEventListSchema = z.looseObject({
  apiVersion: z.literal('audit.k8s.io/v1'),
  kind: z.literal('EventList'),
  items: z.nullish(z.array(AuditEventSchema)),
});

export type AuditEventList = z.infer<typeof AuditEventListSchema>;

// ---------------------------------------------------------------------------------------------------------------
// CloudEvents 1.0 (structured mode body, or binary mode headers gathered into the same shape).

export const CloudEventSchema = z.looseObject({
  specversion: z.literal('1.0'),
  id: nonEmpty(),
  source: nonEmpty(),
  type: nonEmpty(),
  subject: z.optional(z.string()),
  datacontenttype: z.optional(z.string()),
  data: z.optional(z.unknown()),
  data_base64: z.optional(z.string()),
});

export type CloudEvent = z.infer<typeof CloudEventSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Hints, as carried by a deferred (asynchronous self-) invocation on Lambda. Mirrors src/hints.ts.

/** Hint `pending` (src/hints.ts `PendingChange`). */
const PendingSchema = z.object({ before: z.nullable(z.string()), until: z.number(), retries: z.optional(z.int().check(z.minimum(0))) });

/** Hint `after` (src/hints.ts `SeenAt`): resourceVersions, decimal integers. */
const resourceVersion = () => z.string().check(z.regex(/^(0|[1-9][0-9]{0,38})$/, 'not a resourceVersion'));
const SeenAtSchema = z.object({ nodes: resourceVersion(), pods: resourceVersion() });

export const HintSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('node'),
    name: validName(nodeNameError, 'not a node name'),
    created: z.optional(z.literal(true)),
    registered: z.optional(
      z.object({
        labels: z.optional(z.record(z.string(), z.string())),
        taints: z.optional(z.array(z.object({ key: z.string(), value: z.optional(z.string()), effect: z.string() }))),
      }),
    ),
    pending: z.optional(PendingSchema),
  }),
  z.object({
    kind: z.literal('daemonSet'),
    namespace: validName(namespaceError, 'not a namespace'),
    name: validName(daemonSetNameError, 'not a DaemonSet name'),
    // A Kubernetes UID (a UUID); it goes into a label selector (src/k8s/leases.ts), so only a label value's characters.
    uid: z.optional(z.string().check(z.regex(/^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/, 'not a UID'))),
    type: z.optional(z.literal('ServerlessDaemonSet')),
    pods: z.optional(z.array(validName(podNameError, 'not a pod name')).check(z.maxLength(MAX_HINTED_PODS))),
    pending: z.optional(PendingSchema),
    after: z.optional(SeenAtSchema),
  }),
  z.object({
    kind: z.literal('orphan'),
    resource: z.optional(z.literal('controllerrevisions')),
    namespace: validName(namespaceError, 'not a namespace'),
    name: validName(podNameError, 'not a pod name'),
    labels: z.optional(z.record(z.string(), z.string())),
  }),
  z.object({ kind: z.literal('resync') }),
]);
