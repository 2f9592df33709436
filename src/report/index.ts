/** Renders the report: the DESIGN JSON model and its terminal, Markdown and JSON forms. */
export { buildReport, budgetFindings, endpointMatcher, reportEndpoint } from './model.js';
export type { Report, ReportEndpoint, ReportFinding, ReportOptions, ServiceFinding } from './model.js';
export { renderTerminal } from './terminal.js';
export type { TerminalOptions } from './terminal.js';
export { renderMarkdown } from './markdown.js';
export { renderHtml } from './html.js';

import type { Report } from './model.js';

/** The JSON form is the report model itself. */
export const renderJson = (report: Report): string => `${JSON.stringify(report, null, 2)}\n`;
