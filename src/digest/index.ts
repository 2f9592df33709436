/** Posts the worst endpoints of a period to a Slack incoming webhook as Block Kit, ranked by the DB time they waste. */
export { SLACK_LIMITS, buildDigest, codeBlock, escapeMrkdwn, totalTime } from './blocks.js';
export type { BlocksOptions, Mrkdwn, PlainText, SlackBlock, SlackMessage } from './blocks.js';
export { DurationError, formatDuration, formatPeriod, parseDuration, storePeriods } from '../report/period.js';
export type { Period } from '../report/period.js';
export { SlackSendError, checkWebhookUrl, retryAfterMs, sendDigest } from './send.js';
export type { SendOptions, SendResult } from './send.js';
export { checkDigestSchedule, digestPeriod, digestRule, firstDigestSince, memoryDigestMarks, nextDigestDue, startDigestSchedule } from './schedule.js';
export type { DigestMarks, DigestRule, DigestSchedule, DigestScheduleOptions } from './schedule.js';
export { digestFromRollups, digestFromStore, periodWindow, storeDigestMarks } from './source.js';
export type { DigestInput, DigestPeriod, DigestReportOptions, StoreDigestOptions } from './source.js';
