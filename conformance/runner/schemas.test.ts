/**
 * The protocol schema's two lists of test hooks agree: the runner compiles a step for every op
 * that has a hookArg_<OP> definition (hooks()) and sends it as testParams.op, whose enum an
 * adapter checks; a hook added to one list only would be refused by the other.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SCHEMAS_DIR } from '../../schemas/lib/catalog.ts';
import { hooks } from './schemas.ts';

describe('protocol schema hook lists', () => {
  it('testParams.op lists exactly the ops that have a hookArg_<OP> definition', () => {
    const protocol = JSON.parse(readFileSync(join(SCHEMAS_DIR, 'protocol.schema.json'), 'utf8')) as {
      $defs: { testParams: { properties: { op: { enum: string[] } } } };
    };
    expect([...protocol.$defs.testParams.properties.op.enum].sort()).toEqual([...hooks().keys()].sort());
  });
});
