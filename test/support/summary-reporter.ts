import type { Reporter, TestModule } from 'vitest/node';

/**
 * Ends the run with one plain line, `N passed, N failed, N skipped`, that any CI can read, after
 * one line per test skipped with a reason (`ctx.skip(reason)`), so that what did not run, and why,
 * is in every log (the default reporter shows it only for files that fail).
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const notes: string[] = [];
    for (const m of modules) {
      for (const t of m.children.allTests()) {
        const result = t.result();
        if (result.state === 'passed') passed++;
        else if (result.state === 'failed') failed++;
        else {
          skipped++;
          if (result.state === 'skipped' && result.note) notes.push(`skipped: ${t.fullName}: ${result.note}`);
        }
      }
      if (m.state() === 'failed' && [...m.children.allTests()].length === 0) failed++;
    }
    const reasons = notes.length > 0 ? `\n${notes.join('\n')}` : '';
    process.stdout.write(`${reasons}\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
