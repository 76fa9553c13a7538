// Prints the plain closing line CI reads ("N passed, N failed") after Jest's own summary.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    // A suite that fails to load runs no tests: it must still show as a failure here.
    const unloaded = results.numRuntimeErrorTestSuites;
    process.stdout.write(`\n${results.numPassedTests} passed, ${results.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}`
      + `${unloaded ? `, ${unloaded} suite${unloaded === 1 ? '' : 's'} failed to run` : ''}\n`);
  }
}
module.exports = SummaryReporter;
