/** Renders the report: the DESIGN JSON model, its terminal, Markdown, JSON, HTML, SARIF, GitHub and JUnit forms, and the CI gate (baseline, budgets). */
export { anyGlob, belowMinWasted, buildReport, budgetFindings, endpointMatcher, reportEndpoint, reportScope } from './model.js';
export type { Report, ReportEndpoint, ReportFinding, ReportOptions, ServiceFinding } from './model.js';
export { renderGateTerminal, renderTerminal } from './terminal.js';
export type { TerminalOptions } from './terminal.js';
export { renderMarkdown } from './markdown.js';
export { baselineFromReport, BaselineError, compactScope, parseBaseline, renderBaseline } from './baseline.js';
export type { Baseline, BaselineEntry, BaselineScope } from './baseline.js';
export { countsTowardBudget, isoDay, judge, lookedAt } from './gate.js';
export type { EndpointBudget, GateFinding, GateOptions, GateResult } from './gate.js';
export { buildSarif, renderSarif } from './sarif.js';
export { gateMarkdown, renderGithubCommands, renderGithubSummary } from './github.js';
export { renderJunit } from './junit.js';
export { findingSignature } from './signature.js';

import type { Report } from './model.js';

/** The JSON form is the report model itself. */
export const renderJson = (report: Report): string => `${JSON.stringify(report, null, 2)}\n`;
