/** The registry of report formats: adding one is a file in this folder and a line here. */
import { htmlReporter } from './html.ts';
import { jsonReporter } from './json.ts';
import { junitReporter } from './junit.ts';
import { ktapReporter } from './ktap.ts';
import { markdownReporter } from './markdown.ts';
import type { Reporter } from './reporter.ts';

export const reporters: readonly Reporter[] = [jsonReporter, markdownReporter, htmlReporter, junitReporter, ktapReporter];

export const DEFAULT_FORMATS = ['json', 'md', 'html', 'junit', 'ktap'];

export function reporterFor(format: string): Reporter | undefined {
  return reporters.find((r) => r.format === format);
}

export type { Reporter };
