/**
 * The in-process transport: any object implementing Adapter, called directly. An exception
 * that is not an AdapterError is what a crash is in process: the instance is dropped and the
 * factory makes a fresh one on restart.
 */
import { AdapterError, type Adapter } from '../../schemas/lib/adapter.ts';
import { TransportCrash, type Transport, type TransportFactory } from './transport.ts';

export function inProcessTransport(adapter: Adapter): Transport {
  let disposed = false;
  const call = async <T>(method: string, f: () => Promise<T>): Promise<T> => {
    if (disposed) throw new TransportCrash(`in-process adapter already dropped (${method})`);
    try {
      return await f();
    } catch (e) {
      if (e instanceof AdapterError) throw e;
      throw new TransportCrash(`${method} threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    }
  };
  return {
    kind: 'in-process',
    hello: (p) => call('hello', () => adapter.hello(p)),
    world: (p) => call('world', () => adapter.world(p)),
    open: (p) => call('open', () => adapter.open(p)),
    close: (p) => call('close', () => adapter.close(p)),
    ioctl: (p) => call('ioctl', () => adapter.ioctl(p)),
    test: (p) => call('test', () => adapter.test(p)),
    shutdown: (p) => call('shutdown', () => adapter.shutdown(p)),
    async dispose() {
      disposed = true;
    },
    takeDiagnostics: () => '',
  };
}

/** A factory over a function that makes a fresh adapter (called again on each restart). */
export function inProcessFactory(make: () => Adapter | Promise<Adapter>): TransportFactory {
  return async () => inProcessTransport(await make());
}
