/*
 * /init of the `ioasid kernel-check` test kernel's initramfs, built static. It mounts devtmpfs,
 * proc, sysfs and debugfs, sets fault injection up as iommufd_fail_nth.c does (GFP_KERNEL
 * allocations may fail, no splat per injected failure), then runs /adapter (the C adapter)
 * with stdin and stdout on the virtio-serial port to the host and stderr on the console, and
 * powers the machine off when the adapter exits — so the host's QEMU process is the adapter
 * process, and ends with it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PORT "/dev/vport0p1"
#define PORT_WAIT_MS 20000

static void say(const char *fmt, const char *arg) {
	dprintf(2, "ioasid-init: ");
	dprintf(2, fmt, arg);
	dprintf(2, "\n");
}

static void put(const char *path, const char *value) {
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) { say("cannot open %s", path); return; }
	if (write(fd, value, strlen(value)) < 0) say("cannot write %s", path);
	close(fd);
}

static void sleep_ms(long ms) {
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&t, NULL);
}

/* Every fault-injection attribute of debugfs stays quiet: fail-nth alone decides. */
static void fault_injection_setup(void) {
	put("/sys/kernel/debug/failslab/ignore-gfp-wait", "N");
	put("/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait", "N");
	put("/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem", "N");
	DIR *d = opendir("/sys/kernel/debug");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char path[300];
		if (strncmp(e->d_name, "fail", 4)) continue;
		snprintf(path, sizeof(path), "/sys/kernel/debug/%s/verbose", e->d_name);
		put(path, "0");
	}
	if (d) closedir(d);
}

static void power_off(void) {
	sync();
	reboot(RB_POWER_OFF);
	for (;;) pause();
}

int main(void) {
	mkdir("/dev", 0755);
	mkdir("/proc", 0755);
	mkdir("/sys", 0755);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	int console = open("/dev/console", O_RDWR | O_CLOEXEC);
	if (console >= 0) dup2(console, 2);
	fault_injection_setup();
	int port = -1;
	for (long waited = 0; port < 0 && waited < PORT_WAIT_MS; waited += 50) {
		port = open(PORT, O_RDWR);
		if (port < 0) sleep_ms(50);
	}
	if (port < 0) { say("no %s: is the virtio-serial port on the QEMU command line?", PORT); power_off(); }
	struct utsname u;
	uname(&u);
	say("Linux %s: the adapter speaks on " PORT, u.release);
	pid_t child = fork();
	if (child == 0) {
		dup2(port, 0);
		dup2(port, 1);
		close(port);
		execl("/adapter", "adapter", (char *)NULL);
		say("cannot exec /adapter: %s", strerror(errno));
		_exit(127);
	}
	int status = 0;
	while (child > 0 && waitpid(child, &status, 0) < 0 && errno == EINTR) {}
	if (WIFSIGNALED(status)) say("the adapter died of signal %s", strsignal(WTERMSIG(status)));
	power_off();
	return 0;
}
