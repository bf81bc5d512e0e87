/**
 * Validation of protocol messages with the shared Ajv2020 instance: every schema compiles in
 * strict mode, and a bad message gets an error that names the field and the rule.
 */
import { describe, expect, it } from 'vitest';
import { getCatalog } from './catalog.ts';
import { formatIssues, schemaFilePaths, schemaIds, validateBySchemaId, validateIoctlArg } from './validate.ts';

describe('loading', () => {
  it('compiles every schema below schemas/ in strict mode, uAPI and the runner\'s alike', () => {
    const files = schemaFilePaths();
    expect(files).toContain('uapi/iommu-ioas-map.schema.json');
    expect(files).toContain('defs/enums.schema.json');
    expect(schemaIds()).toContain('https://ioasid.dev/schemas/uapi/iommu-ioas-map.schema.json');
    expect(schemaIds().length).toBe(files.length);
    // The runner's schemas load through the same instance once they exist.
    for (const f of files.filter((x) => !x.includes('/'))) {
      expect(schemaIds()).toContain(`https://ioasid.dev/schemas/${f}`);
    }
  });
});

describe('validateIoctlArg', () => {
  it('accepts a well-formed argument for every ioctl, and the empty one', () => {
    for (const name of getCatalog().ioctls.keys()) expect(validateIoctlArg(name, {}), name).toBeNull();
    expect(validateIoctlArg('IOMMU_IOAS_MAP', {
      size: 40, flags: 7, ioas_id: 1, __reserved: 0, user_va: '0x7f0000000000', length: 4096, iova: '18446744073709551615', __trailing: '00ff',
    })).toBeNull();
    expect(validateIoctlArg('VFIO_DEVICE_ATTACH_IOMMUFD_PT', { device: 'dev0', pt_id: 3 })).toBeNull();
    expect(validateIoctlArg('VFIO_SET_IOMMU', { type: 3 })).toBeNull();
  });
  it('accepts values the kernel must reject: unknown flags, non-zero reserved fields', () => {
    expect(validateIoctlArg('IOMMU_IOAS_MAP', { flags: 0xffffffff, __reserved: 1 })).toBeNull();
    expect(validateIoctlArg('IOMMU_HWPT_ALLOC', { data_type: 0x12345 })).toBeNull();
  });
  it('names an unknown field and the rule', () => {
    const issues = validateIoctlArg('IOMMU_IOAS_MAP', { ioas_id: 1, lenght: 4096 });
    expect(issues).toEqual([expect.objectContaining({ instancePath: '', keyword: 'additionalProperties', message: expect.stringContaining("'lenght'") })]);
  });
  it('names a field out of range and the rule', () => {
    const issues = validateIoctlArg('IOMMU_IOAS_MAP', { flags: 4294967296 })!;
    expect(issues).toEqual([expect.objectContaining({ instancePath: '/flags', keyword: 'maximum' })]);
    const op = validateIoctlArg('IOMMU_OPTION', { op: -1 })!;
    expect(op).toEqual([expect.objectContaining({ instancePath: '/op', keyword: 'minimum' })]);
  });
  it('enforces the u64 wire rule', () => {
    expect(validateIoctlArg('IOMMU_IOAS_MAP', { iova: 2 ** 53 })).not.toBeNull();
    expect(validateIoctlArg('IOMMU_IOAS_MAP', { iova: 1.5 })).not.toBeNull();
    const issues = validateIoctlArg('IOMMU_IOAS_MAP', { iova: '0xZZ' })!;
    expect(issues.some((i) => i.instancePath === '/iova' && i.keyword === 'pattern')).toBe(true);
    expect(issues.some((i) => i.instancePath === '/iova' && i.keyword === 'anyOf')).toBe(true);
  });
  it('checks fixed arrays and __trailing hex', () => {
    expect(validateIoctlArg('IOMMU_GET_HW_INFO', { __reserved: [0, 0, 0, 0] })).toEqual([expect.objectContaining({ instancePath: '/__reserved', keyword: 'maxItems' })]);
    expect(validateIoctlArg('IOMMU_GET_HW_INFO', { __reserved: [256] })).toEqual([expect.objectContaining({ instancePath: '/__reserved/0', keyword: 'maximum' })]);
    expect(validateIoctlArg('IOMMU_DESTROY', { __trailing: 'f' })).toEqual([expect.objectContaining({ instancePath: '/__trailing', keyword: 'pattern' })]);
  });
  it('reports every problem at once (allErrors)', () => {
    const issues = validateIoctlArg('IOMMU_IOAS_UNMAP', { ioas_id: 'one', iova: -1, bogus: true })!;
    expect(issues.map((i) => `${i.instancePath} ${i.keyword}`)).toEqual(expect.arrayContaining([' additionalProperties', '/ioas_id type', '/iova anyOf']));
    expect(formatIssues('IOMMU_IOAS_UNMAP.arg', issues)).toContain('IOMMU_IOAS_UNMAP.arg/ioas_id: type: must be integer');
  });
  it('an unknown command is an error', () => {
    expect(validateIoctlArg('IOMMU_NOPE', {})).toEqual([expect.objectContaining({ keyword: 'ioctl', message: expect.stringContaining('IOMMU_NOPE') })]);
  });
});

describe('validateBySchemaId', () => {
  it('takes full ids, ids relative to schemas/, and $defs fragments', () => {
    expect(validateBySchemaId('https://ioasid.dev/schemas/defs/scalars.schema.json#/$defs/u32', 7)).toBeNull();
    expect(validateBySchemaId('defs/scalars.schema.json#/$defs/u32', -7)).toEqual([expect.objectContaining({ keyword: 'minimum' })]);
    expect(validateBySchemaId('defs/iommufd-payloads.schema.json#/$defs/iommu_iova_range', { start: 0, last: '0xffffffffffffffff' })).toBeNull();
    expect(validateBySchemaId('defs/iommufd-payloads.schema.json#/$defs/iommu_iova_range', { begin: 0 })).toEqual([expect.objectContaining({ keyword: 'additionalProperties' })]);
    expect(validateBySchemaId('defs/errno.schema.json#/$defs/errno', 'EINVAL')).toBeNull();
    expect(validateBySchemaId('defs/errno.schema.json#/$defs/errno', 'EWHAT')).toEqual([expect.objectContaining({ keyword: 'enum' })]);
  });
  it('an unknown id is an error naming it', () => {
    expect(validateBySchemaId('uapi/nope.schema.json', {})).toEqual([expect.objectContaining({ keyword: '$id', message: expect.stringContaining('nope') })]);
  });
});
