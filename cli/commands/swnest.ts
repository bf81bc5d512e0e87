/**
 * `ioasid swnest check`: the differential check of the VMM library (reference/vmm): a random
 * guest of one format on a host IOMMU model, random guest operations, every probed DMA through
 * the host compared with the guest's own table (and with native nesting where the host walks
 * the guest's format). Exit 0 when every probe agrees, 1 on the first difference (printed with
 * its reproducer: seed, op index, the op list as JSON), 2 on a usage or adapter error.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, parseFlags, type Command } from '../command.ts';
import { parseAdapterSpec } from '../../conformance/runner/adapter-spec.ts';
import { loadCatalog } from '../../conformance/runner/catalog-source.ts';
import type { Transport } from '../../conformance/runner/transport.ts';
import { runCheck, type CheckOp, type CheckResult } from '../../reference/vmm/check/differential-check.ts';
import type { GuestShape } from '../../reference/vmm/check/guest-driver.ts';
import type { GuestFormatName } from '../../reference/vmm/guest-context.ts';
import type { StrategyName } from '../../reference/vmm/strategy.ts';

const GUESTS: GuestFormatName[] = ['arm-lpae-s1', 'vtd-fs'];
const STRATEGIES: StrategyName[] = ['native', 'swnest', 'emulation'];

const usage = `usage: ioasid swnest check --guest <format> --host <model> [--seed N] [--ops K] [options]

Software nesting's differential check. A random guest (its granule and address width drawn
from the seed) builds its I/O page table in guest memory and runs K random operations (map,
unmap, invalidate-all, context refresh) through a vIOMMU of the VMM library; after each, a few
IOVAs are probed on the host (TRANSLATE, DMA_READ, DMA_WRITE) and compared with the guest's own
table, and with a native-nesting twin device when the host walks the guest's format. The
strategy is the one the library picks from GET_HW_INFO unless --strategy forces one.

  --guest <format>     arm-lpae-s1 (an SMMUv3 guest) or vtd-fs (a VT-d guest)
  --host <model>       the host IOMMU model of the topology (intel-vtd, arm-smmuv3, amd-vi, …)
  --host-knobs <json>  knobs of the host model, e.g. '{"levels":5}'
  --seed N             seed of the guest and its operations (default 1)
  --ops K              operations (default 1000)
  --probes N           IOVAs probed after each operation (default 3)
  --strategy <s>       native, swnest or emulation (default: the library's choice)
  --no-twin            do not compare with a native-nesting twin device
  --adapter <spec>     reference (default), stdio:<command> or module:<path>
  --replay <file>      re-run the operations of a reproducer (a --json output)
  --json <file>        write the result (shape, agreements, difference, op list) as JSON
  --help               this text

Exit status: 0 all probes agree, 1 a difference (printed with its reproducer), 2 usage error.
`;

async function check(argv: string[]): Promise<number> {
  const parsed = parseFlags('swnest', usage, {
    args: argv,
    options: {
      guest: { type: 'string' },
      host: { type: 'string' },
      'host-knobs': { type: 'string' },
      seed: { type: 'string' },
      ops: { type: 'string' },
      probes: { type: 'string' },
      strategy: { type: 'string' },
      'no-twin': { type: 'boolean' },
      adapter: { type: 'string' },
      replay: { type: 'string' },
      json: { type: 'string' },
    },
  });
  if (parsed === null) return EXIT_USAGE;
  const o = parsed.values;
  const bad = (why: string): number => {
    process.stderr.write(`ioasid swnest check: ${why}\n`);
    return EXIT_USAGE;
  };
  let replay: { shape: GuestShape; ops: CheckOp[] } | undefined;
  if (o.replay !== undefined) {
    try {
      const r = JSON.parse(readFileSync(o.replay, 'utf8')) as Partial<CheckResult>;
      if (r.shape === undefined || !Array.isArray(r.ops)) return bad(`--replay ${o.replay}: field 'shape' and array 'ops' are required (a --json output)`);
      replay = { shape: r.shape, ops: r.ops };
      o.guest ??= r.guest;
      o.host ??= r.host;
      o.seed ??= String(r.seed ?? 1);
    } catch (e) {
      return bad(`--replay ${o.replay}: ${(e as Error).message}`);
    }
  }
  if (o.guest === undefined || !GUESTS.includes(o.guest as GuestFormatName)) return bad(`--guest: one of ${GUESTS.join(', ')}`);
  if (o.host === undefined) return bad('--host: a host IOMMU model name is required');
  if (o.strategy !== undefined && !STRATEGIES.includes(o.strategy as StrategyName)) return bad(`--strategy: one of ${STRATEGIES.join(', ')}`);
  const int = (v: string | undefined, name: string, dflt: number): number | null => {
    if (v === undefined) return dflt;
    const n = Number(v);
    return Number.isInteger(n) && n >= 0 ? n : null;
  };
  const seed = int(o.seed, '--seed', 1);
  const ops = int(o.ops, '--ops', 1000);
  const probes = int(o.probes, '--probes', 3);
  if (seed === null) return bad('--seed: a non-negative integer');
  if (ops === null) return bad('--ops: a non-negative integer');
  if (probes === null || probes === 0) return bad('--probes: a positive integer');
  let hostKnobs: Record<string, unknown> | undefined;
  if (o['host-knobs'] !== undefined) {
    try {
      hostKnobs = JSON.parse(o['host-knobs']) as Record<string, unknown>;
    } catch (e) {
      return bad(`--host-knobs: ${(e as Error).message}`);
    }
  }
  let transport: Transport | undefined;
  try {
    if (o.adapter !== undefined && o.adapter !== 'reference') transport = await (await parseAdapterSpec(o.adapter, await loadCatalog())).factory();
    const r = await runCheck({
      guest: o.guest as GuestFormatName,
      host: o.host,
      hostKnobs,
      seed,
      ops,
      probes,
      strategy: o.strategy as StrategyName | undefined,
      twin: o['no-twin'] !== true,
      adapter: transport,
      replay,
    });
    const shape = r.shape.guest === 'arm-lpae-s1' ? `${r.shape.granule / 1024}K granule, ${r.shape.ias}-bit input` : `${r.shape.ias}-bit`;
    process.stdout.write(`guest ${r.guest} (${shape}) on ${r.host}: ${r.strategy} — ${r.why}${r.twin ? '; compared with a native-nesting twin' : ''}\n`);
    process.stdout.write(`${r.opsRun} operations, ${r.agreements} agreements, ${r.difference === null ? 'no difference' : '1 difference'}\n`);
    for (const why of r.refusals.slice(0, 10)) process.stdout.write(`refused: ${why}\n`);
    if (o.json !== undefined) writeFileSync(o.json, `${JSON.stringify(r, null, 2)}\n`);
    if (r.difference !== null) {
      const d = r.difference;
      process.stdout.write(`DIFFERENCE at op ${d.opIndex} (${JSON.stringify(r.ops[d.opIndex])}), IOVA ${d.iova}, ${d.what}:\n  expected ${JSON.stringify(d.expected)}\n  got      ${JSON.stringify(d.got)}\n`);
      process.stdout.write(`reproducer: seed ${r.seed}, op index ${d.opIndex}, ops ${JSON.stringify({ shape: r.shape, ops: r.ops })}\n`);
      if (o.json === undefined) process.stdout.write('(re-run with --json <file>, then --replay <file>)\n');
      return EXIT_FAILED;
    }
    return EXIT_OK;
  } catch (e) {
    process.stderr.write(`ioasid swnest check: ${(e as Error).message}\n`);
    return EXIT_USAGE;
  } finally {
    await transport?.dispose();
  }
}

const swnest: Command = {
  name: 'swnest',
  summary: 'software nesting: the VMM library\'s differential check (swnest check)',
  usage,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub !== 'check') {
      process.stderr.write(`ioasid swnest: unknown sub-command ${sub === undefined ? '(none)' : `'${sub}'`}; expected 'check'\n\n${usage}`);
      return EXIT_USAGE;
    }
    return check(rest);
  },
};

export default swnest;
