/**
 * Loopback: the same cases through an adapter in process and through `ioasid serve` over
 * stdio. The two reports must agree on everything but timings and the adapter line — the
 * check that the stdio transport (and any adapter speaking it) loses nothing. Also the
 * measurement bench/stdio.ts reports.
 */
import { join } from 'node:path';
import { REPO_ROOT } from './case-loader.ts';
import { stdioFactory } from './stdio.ts';
import type { TransportFactory } from './transport.ts';
import type { Report } from './types.ts';

/** A factory for `ioasid serve --adapter <spec>` in a child process. */
export function serveFactory(adapterSpec: string): TransportFactory {
  const bin = join(REPO_ROOT, 'bin', 'ioasid.mjs');
  return stdioFactory(`${JSON.stringify(process.execPath)} ${JSON.stringify(bin)} serve --adapter ${JSON.stringify(adapterSpec)}`, { cwd: REPO_ROOT });
}

/** The report without what legitimately differs between two runs of the same cases. */
export function comparable(r: Report): unknown {
  return {
    implementation: r.implementation,
    protocol: r.protocol,
    capabilities: r.capabilities,
    completed: r.completed,
    smoke: r.smoke,
    summary: r.summary,
    cases: r.cases.map(({ duration_ms: _d, diagnostics: _g, ...rest }) => rest),
    invalid_cases: r.invalid_cases,
  };
}
