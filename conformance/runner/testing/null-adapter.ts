/**
 * The null adapter: it declares every capability the reference declares and answers every
 * call with a schema-valid success shaped like the request — ioctls give their argument back
 * unchanged but for a fresh number (1, 2, …, as Linux hands out object ids) in every output id
 * field, memory and DMA reads give as many zero bytes as asked, CHECK_REFS a zero per page,
 * other hooks empty or zero outputs, FAIL_NTH never injects — and does nothing at all. The suite must not let it pass: a case
 * it passes checks too little, or says in its note why an adapter that does nothing may pass it
 * (suite-strength.test.ts). It is a measure of the suite, not a model of anything.
 */
import type { Adapter, HelloResult, IoctlResult, JsonObject, TestResult, WireStruct } from '../../../schemas/lib/adapter.ts';
import { capabilities } from '../../../reference/adapter.ts';

/** The least each hook's out must hold to be schema-valid (protocol.schema.json hookOut_<OP>). */
const OUTS: Record<string, JsonObject> = {
  MMAP: { addr: 0x1000_0000 },
  MEM_READ: { data: '' },
  MEMFD_CREATE: { fd: 64 },
  DMA_WRITE: { fault: null },
  DMA_READ: { fault: null },
  TRANSLATE: { fault: null },
  CHECK_REFS: { refs: [] },
  ACCOUNTING: { user_pages: 0, mm_pages: 0 },
  ACCESS_PIN: { pages_id: 0 },
  SET_DIRTY: { nr_dirty: 0 },
  PGTABLE_DUMP: { format: 'mock', config: {}, root: 0, words: [] },
  PROCESS_FORK: { pid: 101 },
  STATE: { contexts: [] },
};

/** Output fields that carry a new object's id (the null adapter makes one up, as if it had made the object). */
const ID_OUTPUTS = new Set(['out_ioas_id', 'out_devid', 'out_hwpt_id', 'out_viommu_id', 'out_vdevice_id', 'out_fault_id', 'out_veventq_id', 'out_hw_queue_id', 'out_fault_fd', 'out_veventq_fd']);

export function createNullAdapter(): Adapter {
  let nextFd = 3;
  let nextId = 1;
  return {
    async hello(): Promise<HelloResult> {
      return { protocol: 1, implementation: { name: 'null', version: '0' }, capabilities: capabilities() };
    },
    async world() {
      return {};
    },
    async open() {
      return { fd: nextFd++ };
    },
    async close() {
      return {};
    },
    async ioctl(p): Promise<IoctlResult> {
      const arg: WireStruct = { ...(p.arg ?? {}) };
      for (const k of ID_OUTPUTS) if (k in arg) arg[k] = nextId++;
      return { ret: 0, arg };
    },
    async test(p): Promise<TestResult> {
      const a = (p.arg ?? {}) as JsonObject;
      const length = Math.min(Number(a.length ?? 0), 1 << 24);
      // Nothing was ever written: every byte reads as zero, every page has no pin.
      if (p.op === 'MEM_READ') return { ret: 0, out: { data: '00'.repeat(length) } };
      if (p.op === 'DMA_READ') return { ret: 0, out: { fault: null, data: '00'.repeat(length) } };
      if (p.op === 'ACCESS_RW' && a.data === undefined && a.write !== true) return { ret: 0, out: { data: '00'.repeat(length) } };
      if (p.op === 'CHECK_REFS') {
        const addr = Number(a.addr ?? 0);
        const pages = length === 0 ? 0 : Math.floor((addr + length - 1) / 4096) - Math.floor(addr / 4096) + 1;
        return { ret: 0, out: { refs: new Array<number>(pages).fill(0) } };
      }
      if (p.op === 'CREATE_ACCESS') return { ret: 0, out: { access_id: nextId++ } };
      return { ret: 0, out: Object.hasOwn(OUTS, p.op) ? OUTS[p.op] : {} };
    },
    async shutdown() {
      return {};
    },
  };
}
