/*
 * The test hooks of the C adapter on a real kernel built with CONFIG_IOMMUFD_TEST: each hook
 * becomes an IOMMU_TEST_CMD operation (numbered as the running kernel numbers them, from the
 * table `ioasid kernel-check` generates by compiling a probe against the kernel tree), FAIL_NTH
 * becomes /proc/self/task/<tid>/fail-nth armed around the next kernel call. Without that table
 * (a host build for the fake /dev/iommu) nothing here is offered.
 */
#ifndef IOASID_KERNEL_HOOKS_H
#define IOASID_KERNEL_HOOKS_H
#include <stdint.h>
#include "json.h"

/* The running kernel's IOMMU_TEST_CMD request, 0 in a build without the op table. */
unsigned long kernel_test_cmd_request(void);

/* The JSON-RPC error by which an adapter says the implementation cannot express a request. */
#define RPC_CANNOT_EXPRESS (-32003)

/* 1 when this build carries a kernel op table and /dev/iommu is the kernel's. */
int kernel_hooks_available(void);
/* The running kernel's release (uname -r), "" when unknown. */
const char *kernel_release(void);
/* Appends the capabilities the hooks offer, each as ,"name". */
void kernel_capabilities(struct jbuf *out);
/* A new world: the kernel-global test settings go back to their defaults, our fds close. */
void kernel_world(int has_mock_bridge);
/* The context fd closes: the access and event fds opened in it close with it. */
void kernel_close_context(int ctx);
/* After a successful ioctl in context ctx: remembers the event fds it returned. */
void kernel_note_ioctl(int ctx, const char *answer);
/* Arms a pending FAIL_NTH before a kernel call; returns whether armed. */
int kernel_fail_nth_arm(void);
/* After that call: 1 when the injection point was reached, 0 when not (then disarmed). */
int kernel_fail_nth_reached(void);
/*
 * A test hook: 0 with out filled (an errno result or {ret, out}), a JSON-RPC error code with err
 * set otherwise (-32601 when the hook is not one of ours).
 */
int kernel_test(int ctx, const char *op, const struct json *arg, struct jbuf *out, char *err, size_t errlen);
#endif
