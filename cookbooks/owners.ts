/** Teams allowed as cookbook owners; the conformance test rejects any other. */
export const OWNERS = ['SRE', 'Traffic', 'Infrastructure Foundations', 'Service Operations', 'Observability'] as const;
export type Owner = (typeof OWNERS)[number];
