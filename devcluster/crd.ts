/**
 * The ServerlessDaemonSet CustomResourceDefinition (infra/crd-serverlessdaemonset.json), generated from the API
 * server's own OpenAPI v3 schema of apps/v1 DaemonSetSpec and DaemonSetStatus, so the custom resource has exactly
 * the spec and status of a DaemonSet (and is checked against it in the integration suite).
 *
 * A CRD schema must be structural: no `$ref`, every node typed, only the `x-kubernetes-*` extensions a CRD knows.
 * The conversion inlines references and drops what a CRD cannot carry (descriptions, to stay far below the API
 * server's size limits; patch strategies; list-map keys, which would need defaults the CRD does not apply). Types a
 * CRD cannot state exactly are widened, never narrowed: ObjectMeta (the template's metadata) keeps unknown fields,
 * IntOrString is `x-kubernetes-int-or-string`, a Quantity takes any value.
 */

type Schema = Record<string, unknown>;

const REF_PREFIX = '#/components/schemas/';
const META = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';
const INT_OR_STRING = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';
const QUANTITY = 'io.k8s.apimachinery.pkg.api.resource.Quantity';
const TIME = 'io.k8s.apimachinery.pkg.apis.meta.v1.Time';
const MICRO_TIME = 'io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime';

/** Keys of an OpenAPI node kept in the CRD schema; everything else is dropped. */
const KEPT = new Set(['type', 'format', 'enum', 'required', 'properties', 'items', 'additionalProperties', 'minimum', 'maximum', 'pattern', 'nullable']);

/** The schema of `name` (e.g. `io.k8s.api.apps.v1.DaemonSetSpec`) from an OpenAPI v3 document, made structural. */
export function structuralSchema(openapi: { components?: { schemas?: Record<string, Schema> } }, name: string): Schema {
  const schemas = openapi.components?.schemas ?? {};
  const convert = (node: Schema, stack: readonly string[]): Schema => {
    const ref = refOf(node);
    if (ref !== undefined) {
      if (ref === META) return { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
      if (ref === INT_OR_STRING) return { anyOf: [{ type: 'integer' }, { type: 'string' }], 'x-kubernetes-int-or-string': true };
      if (ref === QUANTITY) return { 'x-kubernetes-preserve-unknown-fields': true };
      if (ref === TIME || ref === MICRO_TIME) return { type: 'string', format: 'date-time', nullable: true };
      const target = schemas[ref];
      if (target === undefined) throw new Error(`OpenAPI schema ${ref} not found`);
      // A recursive type (none in a PodSpec today) is cut where it repeats: its value is kept as is.
      if (stack.includes(ref)) return { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
      return convert(target, [...stack, ref]);
    }
    const out: Schema = {};
    for (const [key, value] of Object.entries(node)) {
      if (!KEPT.has(key)) continue;
      if (key === 'properties') {
        out.properties = Object.fromEntries(Object.entries(value as Record<string, Schema>).map(([k, v]) => [k, convert(v, stack)]));
      } else if (key === 'items' || key === 'additionalProperties') {
        out[key] = typeof value === 'object' && value !== null ? convert(value as Schema, stack) : value;
      } else {
        out[key] = value;
      }
    }
    if (out.type === undefined && out.properties !== undefined) out.type = 'object';
    return out;
  };
  const root = schemas[name];
  if (root === undefined) throw new Error(`OpenAPI schema ${name} not found`);
  return convert(root, [name]);
}

/** `$ref`, directly or as the single member of `allOf` (how OpenAPI v3 attaches a description to a reference). */
function refOf(node: Schema): string | undefined {
  const direct = node.$ref;
  if (typeof direct === 'string') return direct.replace(REF_PREFIX, '');
  const allOf = node.allOf;
  if (Array.isArray(allOf) && allOf.length === 1 && typeof (allOf[0] as Schema).$ref === 'string') {
    return ((allOf[0] as Schema).$ref as string).replace(REF_PREFIX, '');
  }
  return undefined;
}

/** Sizes the CRD sets where apps/v1 sets none, so that the API server can bound the cost of the selector rule. */
export const LIMITS = { templateLabels: 1024, matchLabels: 256, matchExpressions: 256, values: 256 };

/** The CRD, from the structural DaemonSetSpec and DaemonSetStatus schemas. */
export function serverlessDaemonSetCrd(spec: Schema, status: Schema): Schema {
  const properties = spec.properties as Record<string, Schema>;
  // What the apps/v1 API server validates and defaults on its own, as far as a CRD can say it.
  properties.selector = {
    ...properties.selector,
    'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: 'field is immutable' }],
  };
  properties.updateStrategy = { ...properties.updateStrategy, default: { type: 'RollingUpdate' } };
  properties.revisionHistoryLimit = { ...properties.revisionHistoryLimit, default: 10, minimum: 0 };
  properties.minReadySeconds = { ...properties.minReadySeconds, minimum: 0 };
  // A selector: not empty, each requirement an operator with the values it takes (metav1 ValidateLabelSelector).
  const selector = properties.selector as Schema & { properties: { matchExpressions: { items: Schema & { properties: Record<string, Schema> } } } };
  selector['x-kubernetes-validations'] = [
    ...(selector['x-kubernetes-validations'] as unknown[]),
    { rule: '(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)', message: 'empty selector is invalid for a DaemonSet' },
  ];
  const requirement = selector.properties.matchExpressions.items;
  requirement.properties.operator = { type: 'string', enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] };
  requirement['x-kubernetes-validations'] = [
    {
      rule: "self.operator == 'In' || self.operator == 'NotIn' ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
      message: 'In and NotIn take at least one value, Exists and DoesNotExist none',
      fieldPath: '.values',
    },
  ];
  // A DaemonSet's rolling update: each value a count or a percent of at most 100 %, one of the two zero, not both
  // (apps/v1 ValidateRollingUpdateDaemonSet), and the defaults apps/v1 gives when one is absent (1 and 0).
  const strategy = properties.updateStrategy as { properties: { rollingUpdate: Schema & { properties: Record<string, Schema> } } };
  const rollingUpdate = strategy.properties.rollingUpdate;
  rollingUpdate.properties.maxUnavailable = { ...rollingUpdate.properties.maxUnavailable, default: 1 };
  rollingUpdate.properties.maxSurge = { ...rollingUpdate.properties.maxSurge, default: 0 };
  const valid = (f: string) => `type(self.${f}) == int ? self.${f} >= 0 : self.${f}.matches('^0*(100|[0-9]{1,2})%$')`;
  const zero = (f: string) => `(type(self.${f}) == int ? self.${f} == 0 : self.${f}.matches('^0+%$'))`;
  rollingUpdate['x-kubernetes-validations'] = [
    { rule: valid('maxUnavailable'), message: 'must be a non-negative integer or a percentage of at most 100%', fieldPath: '.maxUnavailable' },
    { rule: valid('maxSurge'), message: 'must be a non-negative integer or a percentage of at most 100%', fieldPath: '.maxSurge' },
    { rule: `!(${zero('maxUnavailable')} && ${zero('maxSurge')})`, message: 'cannot be 0 when maxSurge is 0', fieldPath: '.maxUnavailable' },
    { rule: `${zero('maxUnavailable')} || ${zero('maxSurge')}`, message: 'may not be set when maxUnavailable is non-zero', fieldPath: '.maxSurge' },
  ];
  // The pod template of a DaemonSet: restartPolicy Always, no activeDeadlineSeconds. Not defaulted here, unlike
  // apps/v1: a default in the template would change the revision hash of every ServerlessDaemonSet stored before (a
  // rollout of every pod when the CRD is upgraded); the pods' API server defaults it to Always anyway.
  const template = properties.template as { properties: { metadata: Schema; spec: Schema & { properties: Record<string, Schema> } } };
  const podSpec = template.properties.spec;
  podSpec.properties.restartPolicy = { type: 'string', enum: ['Always'] };
  podSpec['x-kubernetes-validations'] = [
    { rule: '!has(self.activeDeadlineSeconds)', message: 'activeDeadlineSeconds in a DaemonSet is not supported', fieldPath: '.activeDeadlineSeconds' },
  ];
  // Each toleration as the pods' validation takes it (core ValidateTolerations): an empty key tolerates every taint
  // only with Exists; Exists takes no value; tolerationSeconds only with NoExecute; an effect a taint can have. What
  // apps/v1 refuses must not reach eligibility (core/tolerations.ts), which reads an empty key with Equal otherwise.
  const toleration = (podSpec.properties.tolerations as { items: Schema & { properties: Record<string, Schema> } }).items;
  toleration.properties.effect = { ...toleration.properties.effect, enum: ['', 'NoSchedule', 'PreferNoSchedule', 'NoExecute'] };
  toleration['x-kubernetes-validations'] = [
    { rule: "has(self.key) && self.key != '' || has(self.operator) && self.operator == 'Exists'", message: 'operator must be Exists when `key` is empty, which means "match all values and all keys"', fieldPath: '.operator' },
    { rule: "!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''", message: "value must be empty when `operator` is 'Exists'", fieldPath: '.operator' },
    { rule: "!has(self.tolerationSeconds) || has(self.effect) && self.effect == 'NoExecute'", message: "effect must be 'NoExecute' when `tolerationSeconds` is set", fieldPath: '.effect' },
  ];
  // The selector selects the template's labels (apps/v1 ValidateDaemonSetSpec): else every pod created would be an
  // orphan to it, created again at every pass. Each requirement read as labels.Selector reads it; a label the template
  // lacks fails In and Exists and satisfies NotIn and DoesNotExist.
  // CEL sees only declared fields, and the API server refuses a rule whose cost it cannot bound: the labels are declared
  // and every collection the rule walks gets a size. Lengths are the label rules' own (a value at most 63 characters, a
  // key at most 253 + 1 + 63); the counts are a deviation from apps/v1, which has none, set far above real use.
  const meta = template.properties.metadata as Schema & { properties?: Record<string, Schema> };
  template.properties.metadata = {
    ...meta,
    properties: { ...meta.properties, labels: { type: 'object', maxProperties: LIMITS.templateLabels, additionalProperties: { type: 'string', maxLength: 63 } } },
  };
  const selectorProps = selector.properties as unknown as Record<string, Schema & { items?: Schema & { properties: Record<string, Schema> } }>;
  selectorProps.matchLabels = { ...selectorProps.matchLabels, maxProperties: LIMITS.matchLabels, additionalProperties: { type: 'string', maxLength: 63 } };
  selectorProps.matchExpressions = { ...selectorProps.matchExpressions, maxItems: LIMITS.matchExpressions };
  requirement.properties.key = { ...requirement.properties.key, maxLength: 317 };
  requirement.properties.values = { ...requirement.properties.values, maxItems: LIMITS.values, items: { type: 'string', maxLength: 63 } };
  const labels = 'self.template.metadata.labels';
  const has = (key: string) => `(has(self.template.metadata) && has(${labels}) && ${key} in ${labels})`;
  spec['x-kubernetes-validations'] = [
    {
      rule: [
        `!has(self.selector) || (!has(self.selector.matchLabels) || self.selector.matchLabels.all(k, ${has('k')} && ${labels}[k] == self.selector.matchLabels[k]))`,
        ` && (!has(self.selector.matchExpressions) || self.selector.matchExpressions.all(e,`,
        ` e.operator == 'In' ? ${has('e.key')} && has(e.values) && ${labels}[e.key] in e.values`,
        ` : e.operator == 'NotIn' ? !${has('e.key')} || !has(e.values) || !(${labels}[e.key] in e.values)`,
        ` : e.operator == 'Exists' ? ${has('e.key')}`,
        ` : !${has('e.key')}))`,
      ].join(''),
      message: '`selector` does not match template `labels`',
      fieldPath: '.template.metadata.labels',
    },
  ];
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: 'serverlessdaemonsets.daemonless.dev' },
    spec: {
      group: 'daemonless.dev',
      scope: 'Namespaced',
      names: { kind: 'ServerlessDaemonSet', listKind: 'ServerlessDaemonSetList', plural: 'serverlessdaemonsets', singular: 'serverlessdaemonset', shortNames: ['sds'], categories: ['all'] },
      versions: [
        {
          name: 'v1alpha1',
          served: true,
          storage: true,
          subresources: { status: {} },
          // The columns of `kubectl get daemonsets`.
          additionalPrinterColumns: [
            { name: 'Desired', type: 'integer', jsonPath: '.status.desiredNumberScheduled' },
            { name: 'Current', type: 'integer', jsonPath: '.status.currentNumberScheduled' },
            { name: 'Ready', type: 'integer', jsonPath: '.status.numberReady' },
            { name: 'Up-to-date', type: 'integer', jsonPath: '.status.updatedNumberScheduled' },
            { name: 'Available', type: 'integer', jsonPath: '.status.numberAvailable' },
            { name: 'Node Selector', type: 'string', jsonPath: '.spec.template.spec.nodeSelector' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description:
                'ServerlessDaemonSet: an apps/v1 DaemonSet (same spec, same status, plus conditions) reconciled by daemonless instead of the built-in controller.',
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec,
                status,
              },
              required: ['spec'],
            },
          },
        },
      ],
    },
  };
}
