/**
 * The QEMU command that is the adapter: `qemu-system-x86_64` under TCG (never KVM — /dev/kvm
 * on the CI machines hangs a normal guest) boots the test kernel with the initramfs, and its
 * own stdin and stdout are the guest's virtio-serial port (`-chardev stdio`), where the C
 * adapter speaks the protocol. So the runner's stdio transport drives the guest directly: the
 * runner's time limits and restarts hold (killing QEMU ends the guest; a restart boots a new
 * one), and QEMU does not read stdin before the guest opens the port, so the runner's `hello`
 * waits in the pipe while the kernel boots. The kernel console (serial) is appended to a log
 * file; the display, monitor and default devices are off, which is what -nographic would give
 * without taking stdio.
 */

export interface QemuOptions {
  qemu?: string;
  kernel: string;
  initrd: string;
  consoleLog: string;
  memoryMiB?: number;
  cpus?: number;
}

export const QEMU_DEFAULT = 'qemu-system-x86_64';
/** The guest's name for the port; the guest sees it as /dev/vport0p1 (init.c). */
export const PORT_NAME = 'org.ioasid.adapter';

export function qemuArgs(o: QemuOptions): string[] {
  return [
    '-accel', 'tcg',
    '-smp', String(o.cpus ?? 2),
    '-m', `${o.memoryMiB ?? 512}M`,
    '-nodefaults', '-display', 'none', '-monitor', 'none', '-no-reboot',
    '-kernel', o.kernel,
    '-initrd', o.initrd,
    '-append', 'console=ttyS0 panic=-1 quiet loglevel=4',
    '-chardev', `file,id=console,path=${o.consoleLog},append=on`,
    '-serial', 'chardev:console',
    '-device', 'virtio-serial-pci,id=vser',
    '-chardev', 'stdio,id=port,signal=off',
    '-device', `virtserialport,bus=vser.0,chardev=port,name=${PORT_NAME}`,
  ];
}

/** POSIX shell quoting of one word. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=,+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The --adapter value of conform: the shell execs QEMU, so killing the adapter kills QEMU. */
export function adapterSpec(o: QemuOptions): string {
  return `stdio:exec ${[o.qemu ?? QEMU_DEFAULT, ...qemuArgs(o)].map(shellQuote).join(' ')}`;
}
