/**
 * A toy implementation behind the Adapter interface, for the runner's own tests: IOAS alloc,
 * destroy, map, allow/list IOVA ranges, user memory hooks, CHECK_REFS, STATE and FAIL_NTH,
 * with deliberate defects that can be switched on (a leak on close, a dirty failure under
 * fault injection, a wrong errno). It is not a model of Linux and no golden value comes from
 * it; the tests state what each behaviour is and check the runner's verdict on it.
 */
import { AdapterError, type Adapter, type HelloResult, type IoctlResult, type TestResult, type WireStruct } from '../../../schemas/lib/adapter.ts';

export interface ToyOptions {
  capabilities?: string[];
  /** close() forgets to release the pins of the context's mappings. */
  leakOnClose?: boolean;
  /** Under FAIL_NTH, IOAS_ALLOC fails at point 2 after already creating the object. */
  dirtyFailNth?: boolean;
  /** IOAS_MAP over an existing area answers EINVAL instead of EEXIST. */
  wrongOverlapErrno?: boolean;
  /** FAIL_NTH is accepted and does nothing: no allocation ever fails. */
  ignoreFailNth?: boolean;
  /** Throw a plain exception (an in-process crash) on this ioctl. */
  throwOn?: string;
  /** Never answer this ioctl. */
  hangOn?: string;
  /** IOMMU_DESTROY of a missing id answers EINVAL (instead of ENOENT) on these calls, counted from 1 per adapter. */
  wrongDestroyOnCalls?: number[];
}

const PAGE = 4096n;
const U64_MAX = (1n << 64n) - 1n;

interface Area { iovaStart: bigint; length: bigint; userVa: bigint }
interface Ioas { id: number; areas: Area[]; allowed: { start: bigint; last: bigint }[] }
interface Context { fd: number; objects: Map<number, Ioas>; nextId: number }

const DEFAULT_CAPS = ['ioas', 'test:mem', 'test:refs', 'test:state', 'test:fail-nth', 'model:mock'];

function big(v: unknown): bigint {
  return BigInt(v as number | string);
}
function wire(v: bigint): number | string {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : `0x${v.toString(16)}`;
}

export function createToyAdapter(opts: ToyOptions = {}): Adapter {
  let contexts = new Map<number, Context>();
  let nextFd = 3;
  let memory = new Map<bigint, Uint8Array>(); // page-aligned base → bytes
  let nextVa = 0x10000000n;
  let failNth = 0;
  let armed = false;
  let destroyCalls = 0;

  const ctxOf = (fd: number) => {
    const c = contexts.get(fd);
    if (!c) throw new AdapterError(-32602, `no context fd ${fd}`);
    return c;
  };
  const pins = () => {
    let n = 0;
    for (const c of contexts.values()) for (const o of c.objects.values()) for (const a of o.areas) n += Number(a.length / PAGE);
    return n;
  };
  const leaked = { pages: 0 };
  const findMem = (addr: bigint, length: bigint): { base: bigint; buf: Uint8Array } | null => {
    for (const [base, buf] of memory) if (addr >= base && addr + length <= base + BigInt(buf.length)) return { base, buf };
    return null;
  };
  /** Allocation point k of the current ioctl: true when the injection says it fails. */
  const allocFails = (k: number, state: { reached: boolean }) => {
    if (!armed) return false;
    if (k === failNth) {
      state.reached = true;
      return true;
    }
    return false;
  };

  return {
    async hello(): Promise<HelloResult> {
      return { protocol: 1, implementation: { name: 'toy', version: '0.0.1' }, capabilities: opts.capabilities ?? DEFAULT_CAPS };
    },
    async world() {
      contexts = new Map();
      memory = new Map();
      nextVa = 0x10000000n;
      leaked.pages = 0;
      return {};
    },
    async open() {
      const fd = nextFd++;
      contexts.set(fd, { fd, objects: new Map(), nextId: 1 });
      return { fd };
    },
    async close({ fd }) {
      const c = ctxOf(fd);
      if (opts.leakOnClose) for (const o of c.objects.values()) for (const a of o.areas) leaked.pages += Number(a.length / PAGE);
      contexts.delete(fd);
      return {};
    },
    async ioctl({ fd, cmd, arg }): Promise<IoctlResult> {
      const c = ctxOf(fd);
      if (cmd === opts.throwOn) throw new TypeError('toy adapter bug');
      if (cmd === opts.hangOn) return new Promise(() => {});
      const fi = { reached: false };
      const wasArmed = armed;
      const done = <T extends IoctlResult>(r: T): T => {
        if (wasArmed) {
          armed = false;
          (r as { fail_nth_reached?: boolean }).fail_nth_reached = fi.reached;
        }
        return r;
      };
      const a: WireStruct = { ...arg };
      switch (cmd) {
        case 'IOMMU_IOAS_ALLOC': {
          if (Number(a.size) < 12) return done({ errno: 'EINVAL' });
          if (Number(a.flags) !== 0) return done({ errno: 'EOPNOTSUPP' });
          if (allocFails(1, fi)) return done({ errno: 'ENOMEM' });
          const id = c.nextId++;
          c.objects.set(id, { id, areas: [], allowed: [] });
          if (allocFails(2, fi)) {
            if (!opts.dirtyFailNth) c.objects.delete(id);
            return done({ errno: 'ENOMEM' });
          }
          return done({ ret: 0, arg: { ...a, out_ioas_id: id } });
        }
        case 'IOMMU_DESTROY': {
          destroyCalls++;
          if (!c.objects.delete(Number(a.id))) return done({ errno: opts.wrongDestroyOnCalls?.includes(destroyCalls) ? 'EINVAL' : 'ENOENT' });
          return done({ ret: 0, arg: a });
        }
        case 'IOMMU_IOAS_MAP': {
          const o = c.objects.get(Number(a.ioas_id));
          if (!o) return done({ errno: 'ENOENT' });
          const iova = big(a.iova);
          const length = big(a.length);
          const overlap = o.areas.some((x) => iova < x.iovaStart + x.length && x.iovaStart < iova + length);
          if (overlap) return done({ errno: opts.wrongOverlapErrno ? 'EINVAL' : 'EEXIST' });
          o.areas.push({ iovaStart: iova, length, userVa: big(a.user_va) });
          return done({ ret: 0, arg: a });
        }
        case 'IOMMU_IOAS_ALLOW_IOVAS':
        case 'IOMMU_IOAS_IOVA_RANGES': {
          const o = c.objects.get(Number(a.ioas_id));
          if (!o) return done({ errno: 'ENOENT' });
          const ptr = big(a.allowed_iovas);
          const n = Number(a.num_iovas);
          if (cmd === 'IOMMU_IOAS_ALLOW_IOVAS') {
            const m = findMem(ptr, BigInt(16 * n));
            if (!m && n > 0) return done({ errno: 'EFAULT' });
            const list = [];
            for (let i = 0; i < n; i++) {
              const view = new DataView(m!.buf.buffer, Number(ptr - m!.base) + 16 * i, 16);
              list.push({ start: view.getBigUint64(0, true), last: view.getBigUint64(8, true) });
            }
            o.allowed = list;
            return done({ ret: 0, arg: a });
          }
          const ranges = o.allowed.length ? o.allowed : [{ start: 0n, last: U64_MAX }];
          if (n < ranges.length) return done({ errno: 'EMSGSIZE', arg: { ...a, num_iovas: ranges.length } });
          const m = findMem(ptr, BigInt(16 * ranges.length));
          if (!m) return done({ errno: 'EFAULT' });
          ranges.forEach((r, i) => {
            const view = new DataView(m.buf.buffer, Number(ptr - m.base) + 16 * i, 16);
            view.setBigUint64(0, r.start, true);
            view.setBigUint64(8, r.last, true);
          });
          return done({ ret: 0, arg: { ...a, num_iovas: ranges.length, out_iova_alignment: 1 } });
        }
        default:
          return done({ errno: 'ENOTTY' });
      }
    },
    async test({ op, arg }): Promise<TestResult> {
      switch (op) {
        case 'MMAP': {
          const length = big(arg.length);
          const addr = nextVa;
          nextVa += ((length + PAGE - 1n) / PAGE) * PAGE + PAGE;
          memory.set(addr, new Uint8Array(Number(length)));
          return { ret: 0, out: { addr: wire(addr) } };
        }
        case 'MUNMAP': {
          if (!memory.delete(big(arg.addr))) return { errno: 'EINVAL' };
          return { ret: 0, out: {} };
        }
        case 'MEM_WRITE': {
          const data = Buffer.from(String(arg.data), 'hex');
          const m = findMem(big(arg.addr), BigInt(data.length));
          if (!m) return { errno: 'EFAULT' };
          m.buf.set(data, Number(big(arg.addr) - m.base));
          return { ret: 0, out: {} };
        }
        case 'MEM_READ': {
          const length = big(arg.length);
          const m = findMem(big(arg.addr), length);
          if (!m) return { errno: 'EFAULT' };
          const off = Number(big(arg.addr) - m.base);
          return { ret: 0, out: { data: Buffer.from(m.buf.subarray(off, off + Number(length))).toString('hex') } };
        }
        case 'CHECK_REFS': {
          const addr = big(arg.addr);
          const pages = Number(big(arg.length) / PAGE);
          const refs = Array.from({ length: pages }, (_, i) => {
            const va = addr + BigInt(i) * PAGE;
            let n = 0;
            for (const c of contexts.values()) for (const o of c.objects.values()) for (const x of o.areas) if (va >= x.userVa && va < x.userVa + x.length) n++;
            return n;
          });
          return { ret: 0, out: { refs } };
        }
        case 'STATE': {
          const p = pins() + leaked.pages;
          return {
            ret: 0,
            out: {
              contexts: [...contexts.values()].map((c) => ({ fd: c.fd, objects: [...c.objects.values()].map((o) => ({ id: o.id, kind: 'IOAS', areas: o.areas.length })) })),
              pins: { pinned_frames: p },
              accounting: { user_locked_pages: p, mm_locked_pages: 0, memlock_limit_pages: 1024 },
            },
          };
        }
        case 'FAIL_NTH': {
          failNth = Number(arg.n);
          armed = failNth > 0 && opts.ignoreFailNth !== true;
          return { ret: 0, out: {} };
        }
        default:
          throw new AdapterError(-32601, `toy adapter: no hook ${op}`);
      }
    },
    async shutdown() {
      return {};
    },
  };
}

export default function createAdapter(): Adapter {
  return createToyAdapter();
}
