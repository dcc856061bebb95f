// Egress isolation: pods of a stage reach their own namespace and the cluster DNS, plus what the
// stage lists; the cloud metadata address is never reachable through the default policy.
import * as net from "node:net";

/** An egress allowance of a stage: a CIDR and, optionally, ports. */
export interface EgressAllow {
  readonly cidr: string;
  readonly ports?: readonly { readonly port: number; readonly protocol: "TCP" | "UDP" | "SCTP" }[];
}

/** Instance metadata endpoints (AWS, GCP, Azure, …; IPv6 on AWS Nitro). */
export const METADATA_ADDRESSES = ["169.254.169.254/32", "fd00:ec2::254/128"] as const;

/** Parse an address to a bigint and its bit width; undefined when it is no IP address. */
function toBigInt(address: string): { value: bigint; bits: number } | undefined {
  if (net.isIPv4(address)) {
    const value = address
      .split(".")
      .reduce((acc, octet) => (acc << 8n) + BigInt(Number(octet)), 0n);
    return { value, bits: 32 };
  }
  if (!net.isIPv6(address) || address.includes(".")) return undefined;
  const [head, tail] = address.split("::");
  const parts = (s: string | undefined) => (s ? s.split(":") : []);
  const h = parts(head);
  const t = parts(tail);
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return {
    value: groups.reduce((acc, g) => (acc << 16n) + BigInt(parseInt(g, 16)), 0n),
    bits: 128,
  };
}

/** A parsed CIDR, or an error sentence. */
export function parseCidr(
  cidr: string,
): { base: bigint; prefix: number; bits: number } | { error: string } {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
  const addr = m ? toBigInt(m[1]) : undefined;
  if (!m || !addr) return { error: "must be a CIDR such as 10.0.0.0/8 or 2001:db8::/32" };
  const prefix = Number(m[2]);
  if (prefix > addr.bits) return { error: `has a prefix longer than ${addr.bits} bits` };
  const hostBits = BigInt(addr.bits - prefix);
  if ((addr.value >> hostBits) << hostBits !== addr.value) {
    return { error: "has host bits set (write the network address)" };
  }
  return { base: addr.value, prefix, bits: addr.bits };
}

/** True when `outer` contains all of `inner` (same family). */
export function cidrContains(outer: string, inner: string): boolean {
  const o = parseCidr(outer);
  const i = parseCidr(inner);
  if ("error" in o || "error" in i || o.bits !== i.bits || o.prefix > i.prefix) return false;
  const shift = BigInt(o.bits - o.prefix);
  return o.base >> shift === i.base >> shift;
}

/** The metadata addresses an allowed CIDR contains (they become its `except`). */
export const metadataInside = (cidr: string): string[] =>
  METADATA_ADDRESSES.filter((m) => cidrContains(cidr, m));

/** The stage's egress rules (NetworkPolicy `spec.egress`). */
export function egressRules(allow: readonly EgressAllow[]): Record<string, unknown>[] {
  return [
    // Own namespace.
    { to: [{ podSelector: {} }] },
    // Cluster DNS: CoreDNS keeps kube-dns's `k8s-app: kube-dns` label.
    {
      to: [
        {
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
          podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
        },
      ],
      ports: [
        { protocol: "UDP", port: 53 },
        { protocol: "TCP", port: 53 },
      ],
    },
    ...allow.map((a) => {
      const except = metadataInside(a.cidr);
      return {
        to: [{ ipBlock: except.length > 0 ? { cidr: a.cidr, except } : { cidr: a.cidr } }],
        ...(a.ports && a.ports.length > 0
          ? { ports: a.ports.map((p) => ({ protocol: p.protocol, port: p.port })) }
          : {}),
      };
    }),
  ];
}
