/**
 * The harness output reader (tap.ts) on output written here in the kselftest harness's format,
 * and the build's helpers that need no kernel tree (missing names from compiler errors, the
 * headers_install clean-up).
 */
import { describe, expect, it } from 'vitest';
import { asInstalled, missingNames, testOpsEnv } from './build.ts';
import { parseKselftest } from './tap.ts';

const RUN = `TAP version 13
1..5
# Starting 5 tests from 2 test cases.
#  RUN           iommufd.simple_close ...
#            OK  iommufd.simple_close
ok 1 iommufd.simple_close
#  RUN           iommufd_ioas.no_domain.area ...
# iommufd.c:675:area:Expected 0 (0) == _test_ioctl_ioas_map(self->fd, self->ioas_id, buffer, PAGE_SIZE, &iova, flags) (-1)
# area: Test terminated by assertion
#          FAIL  iommufd_ioas.no_domain.area
not ok 2 iommufd_ioas.no_domain.area
#  RUN           iommufd_ioas.no_domain.huge ...
#      SKIP      no huge pages
#            OK  iommufd_ioas.no_domain.huge
ok 3 iommufd_ioas.no_domain.huge # SKIP no huge pages
#  RUN           iommufd_ioas.no_domain.slow ...
# slow: Test terminated by timeout
#          FAIL  iommufd_ioas.no_domain.slow
not ok 4 iommufd_ioas.no_domain.slow
#  RUN           iommufd_ioas.no_domain.dies ...
`;

describe('parseKselftest', () => {
  const run = parseKselftest(RUN);

  it('reads the plan and one result per instance, in order', () => {
    expect(run.planned).toBe(5);
    expect(run.results.map((r) => [r.name, r.outcome])).toEqual([
      ['iommufd.simple_close', 'pass'],
      ['iommufd_ioas.no_domain.area', 'fail'],
      ['iommufd_ioas.no_domain.huge', 'skip'],
      ['iommufd_ioas.no_domain.slow', 'timeout'],
      ['iommufd_ioas.no_domain.dies', 'crash'],
    ]);
  });

  it('gives a failure its first failed check and its own diagnostic lines, not the verdict echo', () => {
    const area = run.results[1];
    expect(area.message).toMatch(/^iommufd\.c:675:area:Expected 0/);
    expect(area.diagnostics).toEqual([
      'iommufd.c:675:area:Expected 0 (0) == _test_ioctl_ioas_map(self->fd, self->ioas_id, buffer, PAGE_SIZE, &iova, flags) (-1)',
      'area: Test terminated by assertion',
    ]);
  });

  it('keeps a SKIP reason; a test the binary died under is a crash', () => {
    expect(run.results[2].message).toBe('no huge pages');
    expect(run.results[4].message).toMatch(/died/);
  });

  it('reads a death by an unexpected signal as a crash and the totals line', () => {
    const r = parseKselftest('1..1\n#  RUN           f.t ...\n# t: Test terminated unexpectedly by signal 11\nnot ok 1 f.t\n# Totals: pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0\n');
    expect(r.results[0].outcome).toBe('crash');
    expect(r.totals).toBe('pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0');
  });
});

describe('the build helpers', () => {
  it('names what the compiler missed: identifiers and struct members', () => {
    const stderr = [
      "iommufd_utils.h:649:18: error: ‘struct iommu_hw_info’ has no member named ‘in_data_type’; did you mean ‘out_data_type’?",
      "iommufd_utils.h:655:26: error: ‘IOMMU_HW_INFO_TYPE_DEFAULT’ undeclared (first use in this function)",
      "iommufd.c:230:44: error: ‘MOCK_FLAGS_DEVICE_PASID’ undeclared (first use in this function)",
    ].join('\n');
    expect(missingNames(stderr)).toEqual(['.in_data_type', 'IOMMU_HW_INFO_TYPE_DEFAULT', 'MOCK_FLAGS_DEVICE_PASID']);
  });

  it('takes out the kernel-only annotations as headers_install does', () => {
    expect(asInstalled('\t__u64 __user *data;\n')).toBe('\t__u64 *data;\n');
    expect(asInstalled('int f(void __user *p, void __iomem *q);')).toBe('int f(void *p, void *q);');
  });

  it('writes the op numbering for the fake', () => {
    expect(testOpsEnv({ 1: 'ADD_RESERVED', 2: 'MOCK_DOMAIN' })).toBe('1=ADD_RESERVED,2=MOCK_DOMAIN');
  });
});
