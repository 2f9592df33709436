/**
 * Statements as Django 4.2 / 5.x emits them (psycopg `%s`, sqlite `?`, mysqlclient backticks), written
 * from the ORM's compiler output for the shapes n1lens must recognise, with canonical text and facts.
 */

import { describe, expect, test } from 'vitest';
import { normalizeSql } from './normalize.js';
import type { SqlFacts } from './types.js';

export interface DjangoCase {
  /** What the ORM call was. */
  name: string;
  raw: string;
  sql: string;
  facts: Partial<SqlFacts>;
  /** Name of an earlier case that must share this fingerprint. */
  sameAs?: string;
}

const CANDIDATE_COLS = '"recruit_candidate"."id", "recruit_candidate"."name", "recruit_candidate"."email"';
const USER_COLS =
  '"auth_user"."id", "auth_user"."password", "auth_user"."last_login", "auth_user"."is_superuser", ' +
  '"auth_user"."username", "auth_user"."first_name", "auth_user"."last_name", "auth_user"."email", ' +
  '"auth_user"."is_staff", "auth_user"."is_active", "auth_user"."date_joined"';
const NOTE_COLS = '"recruit_note"."id", "recruit_note"."application_id", "recruit_note"."author_id", "recruit_note"."body", "recruit_note"."created_at"';
const APP_COLS = '"recruit_application"."id", "recruit_application"."candidate_id", "recruit_application"."job_id", "recruit_application"."status_id", "recruit_application"."created_at"';
const BOOK_COLS = '"shop_book"."id", "shop_book"."title", "shop_book"."author_id", "shop_book"."price"';
const SESSION =
  'SELECT "django_session"."session_key", "django_session"."session_data", "django_session"."expire_date" FROM "django_session" ' +
  'WHERE ("django_session"."expire_date" > %s AND "django_session"."session_key" = %s) LIMIT 21';
const COMMENT =
  "/*controller='index',db_driver='django.db.backends.postgresql',framework='django%%3A4.2.11',route='%%5Eindex%%2F%%24'," +
  "traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/";

const q = (s: string) => s.replaceAll('%s', '?');

export const DJANGO_CASES: DjangoCase[] = [
  {
    name: 'forward FK access (application.candidate) is a get() by pk with LIMIT 21',
    raw: `SELECT ${CANDIDATE_COLS} FROM "recruit_candidate" WHERE "recruit_candidate"."id" = %s LIMIT 21`,
    sql: `SELECT ${CANDIDATE_COLS} FROM "recruit_candidate" WHERE "recruit_candidate"."id" = ? LIMIT ?`,
    facts: {
      operation: 'SELECT', transactionControl: false, table: 'recruit_candidate', joins: [],
      equalityFilters: ['recruit_candidate.id'], inFilters: [], rangeFilters: [], limit: 21, aggregate: null, exists: false,
      selectedColumns: ['recruit_candidate.id', 'recruit_candidate.name', 'recruit_candidate.email'],
    },
  },
  {
    name: 'the same get() on sqlite uses ? placeholders',
    raw: `SELECT ${CANDIDATE_COLS} FROM "recruit_candidate" WHERE "recruit_candidate"."id" = ? LIMIT 21`,
    sql: `SELECT ${CANDIDATE_COLS} FROM "recruit_candidate" WHERE "recruit_candidate"."id" = ? LIMIT ?`,
    facts: { table: 'recruit_candidate', equalityFilters: ['recruit_candidate.id'], limit: 21 },
    sameAs: 'forward FK access (application.candidate) is a get() by pk with LIMIT 21',
  },
  {
    name: 'the same get() with the value inlined by the driver',
    raw: `SELECT ${CANDIDATE_COLS} FROM "recruit_candidate" WHERE "recruit_candidate"."id" = 4711 LIMIT 21`,
    sql: `SELECT ${CANDIDATE_COLS} FROM "recruit_candidate" WHERE "recruit_candidate"."id" = ? LIMIT ?`,
    facts: { equalityFilters: ['recruit_candidate.id'], limit: 21 },
    sameAs: 'forward FK access (application.candidate) is a get() by pk with LIMIT 21',
  },
  {
    name: 'reverse FK access (application.note_set.all()) filters on the child FK column',
    raw: `SELECT ${NOTE_COLS} FROM "recruit_note" WHERE "recruit_note"."application_id" = %s ORDER BY "recruit_note"."created_at" DESC`,
    sql: q(`SELECT ${NOTE_COLS} FROM "recruit_note" WHERE "recruit_note"."application_id" = %s ORDER BY "recruit_note"."created_at" DESC`),
    facts: {
      table: 'recruit_note', equalityFilters: ['recruit_note.application_id'], limit: null,
      orderBy: [{ column: 'recruit_note.created_at', direction: 'DESC' }],
      selectedColumns: ['recruit_note.id', 'recruit_note.application_id', 'recruit_note.author_id', 'recruit_note.body', 'recruit_note.created_at'],
    },
  },
  {
    name: 'M2M access (book.tags.all()) joins the through table',
    raw: 'SELECT "shop_tag"."id", "shop_tag"."name" FROM "shop_tag" INNER JOIN "shop_book_tags" ON ("shop_tag"."id" = "shop_book_tags"."tag_id") WHERE "shop_book_tags"."book_id" = %s',
    sql: 'SELECT "shop_tag"."id", "shop_tag"."name" FROM "shop_tag" INNER JOIN "shop_book_tags" ON ("shop_tag"."id" = "shop_book_tags"."tag_id") WHERE "shop_book_tags"."book_id" = ?',
    facts: {
      table: 'shop_tag',
      joins: [{ table: 'shop_book_tags', type: 'INNER', on: ['shop_tag.id', 'shop_book_tags.tag_id'] }],
      equalityFilters: ['shop_book_tags.book_id'], selectedColumns: ['shop_tag.id', 'shop_tag.name'],
    },
  },
  {
    name: '.count() on a reverse FK',
    raw: 'SELECT COUNT(*) AS "__count" FROM "recruit_note" WHERE "recruit_note"."application_id" = %s',
    sql: 'SELECT COUNT(*) AS "__count" FROM "recruit_note" WHERE "recruit_note"."application_id" = ?',
    facts: {
      table: 'recruit_note', aggregate: { fn: 'COUNT', column: '*' }, equalityFilters: ['recruit_note.application_id'],
      selectedColumns: [], exists: false, limit: null,
    },
  },
  {
    name: '.count() on sqlite',
    raw: 'SELECT COUNT(*) AS "__count" FROM "recruit_note" WHERE "recruit_note"."application_id" = ?',
    sql: 'SELECT COUNT(*) AS "__count" FROM "recruit_note" WHERE "recruit_note"."application_id" = ?',
    facts: { aggregate: { fn: 'COUNT', column: '*' } },
    sameAs: '.count() on a reverse FK',
  },
  {
    name: '.exists() (Django 4.2+: Value(1) compiles to a placeholder)',
    raw: 'SELECT %s AS "a" FROM "recruit_note" WHERE "recruit_note"."application_id" = %s LIMIT 1',
    sql: 'SELECT ? AS "a" FROM "recruit_note" WHERE "recruit_note"."application_id" = ? LIMIT ?',
    facts: { table: 'recruit_note', exists: true, limit: 1, equalityFilters: ['recruit_note.application_id'], aggregate: null, selectedColumns: [] },
  },
  {
    name: '.exists() with the 1 inlined',
    raw: 'SELECT 1 AS "a" FROM "recruit_note" WHERE "recruit_note"."application_id" = 17 LIMIT 1',
    sql: 'SELECT ? AS "a" FROM "recruit_note" WHERE "recruit_note"."application_id" = ? LIMIT ?',
    facts: { exists: true, limit: 1 },
    sameAs: '.exists() (Django 4.2+: Value(1) compiles to a placeholder)',
  },
  {
    name: '.exists() before Django 4.0: SELECT (1) AS "a"',
    raw: 'SELECT (1) AS "a" FROM "recruit_note" WHERE "recruit_note"."application_id" = %s LIMIT 1',
    sql: 'SELECT (?) AS "a" FROM "recruit_note" WHERE "recruit_note"."application_id" = ? LIMIT ?',
    facts: { exists: true, limit: 1, equalityFilters: ['recruit_note.application_id'] },
  },
  {
    name: '.first() orders by pk and takes LIMIT 1',
    raw: 'SELECT "recruit_note"."id", "recruit_note"."application_id", "recruit_note"."body" FROM "recruit_note" WHERE "recruit_note"."application_id" = %s ORDER BY "recruit_note"."id" ASC LIMIT 1',
    sql: 'SELECT "recruit_note"."id", "recruit_note"."application_id", "recruit_note"."body" FROM "recruit_note" WHERE "recruit_note"."application_id" = ? ORDER BY "recruit_note"."id" ASC LIMIT ?',
    facts: { limit: 1, exists: false, orderBy: [{ column: 'recruit_note.id', direction: 'ASC' }], equalityFilters: ['recruit_note.application_id'] },
  },
  {
    name: 'aggregate(Avg("stars")) on a reverse FK',
    raw: 'SELECT AVG("shop_review"."stars") AS "stars__avg" FROM "shop_review" WHERE "shop_review"."book_id" = %s',
    sql: 'SELECT AVG("shop_review"."stars") AS "stars__avg" FROM "shop_review" WHERE "shop_review"."book_id" = ?',
    facts: { table: 'shop_review', aggregate: { fn: 'AVG', column: 'shop_review.stars' }, equalityFilters: ['shop_review.book_id'], selectedColumns: ['shop_review.stars'] },
  },
  {
    name: 'aggregate(Sum("quantity", default=0)) is wrapped in COALESCE',
    raw: 'SELECT COALESCE(SUM("shop_orderline"."quantity"), %s) AS "total" FROM "shop_orderline" WHERE "shop_orderline"."order_id" = %s',
    sql: 'SELECT COALESCE(SUM("shop_orderline"."quantity"), ?) AS "total" FROM "shop_orderline" WHERE "shop_orderline"."order_id" = ?',
    facts: { aggregate: { fn: 'SUM', column: 'shop_orderline.quantity' }, equalityFilters: ['shop_orderline.order_id'] },
  },
  {
    name: 'aggregate(Max("created_at"))',
    raw: 'SELECT MAX("shop_review"."created_at") AS "latest" FROM "shop_review" WHERE "shop_review"."book_id" = %s',
    sql: 'SELECT MAX("shop_review"."created_at") AS "latest" FROM "shop_review" WHERE "shop_review"."book_id" = ?',
    facts: { aggregate: { fn: 'MAX', column: 'shop_review.created_at' } },
  },
  {
    name: 'select_related("job") get() uses an INNER JOIN',
    raw: `SELECT ${APP_COLS}, "recruit_job"."id", "recruit_job"."title", "recruit_job"."company_id" FROM "recruit_application" INNER JOIN "recruit_job" ON ("recruit_application"."job_id" = "recruit_job"."id") WHERE "recruit_application"."id" = %s LIMIT 21`,
    sql: `SELECT ${APP_COLS}, "recruit_job"."id", "recruit_job"."title", "recruit_job"."company_id" FROM "recruit_application" INNER JOIN "recruit_job" ON ("recruit_application"."job_id" = "recruit_job"."id") WHERE "recruit_application"."id" = ? LIMIT ?`,
    facts: {
      table: 'recruit_application', limit: 21, equalityFilters: ['recruit_application.id'],
      joins: [{ table: 'recruit_job', type: 'INNER', on: ['recruit_application.job_id', 'recruit_job.id'] }],
      selectedColumns: [
        'recruit_application.id', 'recruit_application.candidate_id', 'recruit_application.job_id', 'recruit_application.status_id',
        'recruit_application.created_at', 'recruit_job.id', 'recruit_job.title', 'recruit_job.company_id',
      ],
    },
  },
  {
    name: 'select_related("job__company") over a nullable FK adds a LEFT OUTER JOIN',
    raw: `SELECT ${APP_COLS}, "recruit_job"."id", "recruit_job"."company_id", "recruit_company"."id", "recruit_company"."name" FROM "recruit_application" INNER JOIN "recruit_job" ON ("recruit_application"."job_id" = "recruit_job"."id") LEFT OUTER JOIN "recruit_company" ON ("recruit_job"."company_id" = "recruit_company"."id") ORDER BY "recruit_application"."created_at" DESC`,
    sql: `SELECT ${APP_COLS}, "recruit_job"."id", "recruit_job"."company_id", "recruit_company"."id", "recruit_company"."name" FROM "recruit_application" INNER JOIN "recruit_job" ON ("recruit_application"."job_id" = "recruit_job"."id") LEFT OUTER JOIN "recruit_company" ON ("recruit_job"."company_id" = "recruit_company"."id") ORDER BY "recruit_application"."created_at" DESC`,
    facts: {
      table: 'recruit_application', equalityFilters: [], limit: null,
      joins: [
        { table: 'recruit_job', type: 'INNER', on: ['recruit_application.job_id', 'recruit_job.id'] },
        { table: 'recruit_company', type: 'LEFT', on: ['recruit_job.company_id', 'recruit_company.id'] },
      ],
      orderBy: [{ column: 'recruit_application.created_at', direction: 'DESC' }],
    },
  },
  {
    name: 'select_related of the same table twice aliases the second join as T3',
    raw: 'SELECT "recruit_interview"."id", "recruit_interview"."interviewer_id", "recruit_interview"."reviewer_id", "auth_user"."id", "auth_user"."username", T3."id", T3."username" FROM "recruit_interview" INNER JOIN "auth_user" ON ("recruit_interview"."interviewer_id" = "auth_user"."id") LEFT OUTER JOIN "auth_user" T3 ON ("recruit_interview"."reviewer_id" = T3."id") WHERE "recruit_interview"."application_id" = %s',
    sql: 'SELECT "recruit_interview"."id", "recruit_interview"."interviewer_id", "recruit_interview"."reviewer_id", "auth_user"."id", "auth_user"."username", T3."id", T3."username" FROM "recruit_interview" INNER JOIN "auth_user" ON ("recruit_interview"."interviewer_id" = "auth_user"."id") LEFT OUTER JOIN "auth_user" T3 ON ("recruit_interview"."reviewer_id" = T3."id") WHERE "recruit_interview"."application_id" = ?',
    facts: {
      table: 'recruit_interview', equalityFilters: ['recruit_interview.application_id'],
      joins: [
        { table: 'auth_user', type: 'INNER', on: ['recruit_interview.interviewer_id', 'auth_user.id'] },
        { table: 'auth_user', alias: 'T3', type: 'LEFT', on: ['recruit_interview.reviewer_id', 'T3.id'] },
      ],
      selectedColumns: [
        'recruit_interview.id', 'recruit_interview.interviewer_id', 'recruit_interview.reviewer_id', 'auth_user.id', 'auth_user.username', 'T3.id', 'T3.username',
      ],
    },
  },
  {
    name: 'prefetch_related("note_set") with three parents',
    raw: `SELECT ${NOTE_COLS} FROM "recruit_note" WHERE "recruit_note"."application_id" IN (%s, %s, %s)`,
    sql: `SELECT ${NOTE_COLS} FROM "recruit_note" WHERE "recruit_note"."application_id" IN (?)`,
    facts: { table: 'recruit_note', equalityFilters: ['recruit_note.application_id'], inFilters: ['recruit_note.application_id'] },
  },
  {
    name: 'prefetch_related("note_set") with one parent',
    raw: `SELECT ${NOTE_COLS} FROM "recruit_note" WHERE "recruit_note"."application_id" IN (%s)`,
    sql: `SELECT ${NOTE_COLS} FROM "recruit_note" WHERE "recruit_note"."application_id" IN (?)`,
    facts: { equalityFilters: ['recruit_note.application_id'] },
    sameAs: 'prefetch_related("note_set") with three parents',
  },
  {
    name: 'prefetch_related("note_set") with nine parents, inlined',
    raw: `SELECT ${NOTE_COLS} FROM "recruit_note" WHERE "recruit_note"."application_id" IN (1, 2, 3, 4, 5, 6, 7, 8, 9)`,
    sql: `SELECT ${NOTE_COLS} FROM "recruit_note" WHERE "recruit_note"."application_id" IN (?)`,
    facts: { equalityFilters: ['recruit_note.application_id'] },
    sameAs: 'prefetch_related("note_set") with three parents',
  },
  {
    name: 'prefetch_related("tags") selects the through FK as _prefetch_related_val',
    raw: 'SELECT ("shop_book_tags"."book_id") AS "_prefetch_related_val_book_id", "shop_tag"."id", "shop_tag"."name" FROM "shop_tag" INNER JOIN "shop_book_tags" ON ("shop_tag"."id" = "shop_book_tags"."tag_id") WHERE "shop_book_tags"."book_id" IN (%s, %s)',
    sql: 'SELECT ("shop_book_tags"."book_id") AS "_prefetch_related_val_book_id", "shop_tag"."id", "shop_tag"."name" FROM "shop_tag" INNER JOIN "shop_book_tags" ON ("shop_tag"."id" = "shop_book_tags"."tag_id") WHERE "shop_book_tags"."book_id" IN (?)',
    facts: {
      table: 'shop_tag', equalityFilters: ['shop_book_tags.book_id'], inFilters: ['shop_book_tags.book_id'], aggregate: null, exists: false,
      selectedColumns: ['shop_book_tags.book_id', 'shop_tag.id', 'shop_tag.name'],
      joins: [{ table: 'shop_book_tags', type: 'INNER', on: ['shop_tag.id', 'shop_book_tags.tag_id'] }],
    },
  },
  {
    name: 'save() of a new object: INSERT … RETURNING the pk',
    raw: 'INSERT INTO "recruit_note" ("application_id", "author_id", "body", "created_at") VALUES (%s, %s, %s, %s) RETURNING "recruit_note"."id"',
    sql: 'INSERT INTO "recruit_note" ("application_id", "author_id", "body", "created_at") VALUES (?, ?, ?, ?) RETURNING "recruit_note"."id"',
    facts: {
      operation: 'INSERT', transactionControl: false, table: 'recruit_note', selectedColumns: [], equalityFilters: [],
      writtenColumns: ['application_id', 'author_id', 'body', 'created_at'],
    },
  },
  {
    name: 'save() of a new object on sqlite',
    raw: 'INSERT INTO "recruit_note" ("application_id", "author_id", "body", "created_at") VALUES (?, ?, ?, ?) RETURNING "recruit_note"."id"',
    sql: 'INSERT INTO "recruit_note" ("application_id", "author_id", "body", "created_at") VALUES (?, ?, ?, ?) RETURNING "recruit_note"."id"',
    facts: { operation: 'INSERT', table: 'recruit_note' },
    sameAs: 'save() of a new object: INSERT … RETURNING the pk',
  },
  {
    name: 'bulk_create() of three rows',
    raw: 'INSERT INTO "shop_tag" ("name", "slug") VALUES (%s, %s), (%s, %s), (%s, %s) RETURNING "shop_tag"."id"',
    sql: 'INSERT INTO "shop_tag" ("name", "slug") VALUES (?, ?) RETURNING "shop_tag"."id"',
    facts: { operation: 'INSERT', table: 'shop_tag', writtenColumns: ['name', 'slug'] },
  },
  {
    name: 'bulk_create() of two rows with inlined values',
    raw: "INSERT INTO \"shop_tag\" (\"name\", \"slug\") VALUES ('crime', 'crime'), ('sci-fi', 'sci_fi') RETURNING \"shop_tag\".\"id\"",
    sql: 'INSERT INTO "shop_tag" ("name", "slug") VALUES (?, ?) RETURNING "shop_tag"."id"',
    facts: { operation: 'INSERT', writtenColumns: ['name', 'slug'] },
    sameAs: 'bulk_create() of three rows',
  },
  {
    name: 'bulk_create() on Django 5.2 + PostgreSQL inserts from UNNEST of arrays',
    raw: 'INSERT INTO "shop_tag" ("name", "slug") SELECT * FROM UNNEST((%s)::varchar(50)[], (%s)::varchar(50)[]) RETURNING "shop_tag"."id"',
    sql: 'INSERT INTO "shop_tag" ("name", "slug") SELECT * FROM UNNEST((?)::varchar(?)[], (?)::varchar(?)[]) RETURNING "shop_tag"."id"',
    // Django takes this form only for two rows or more (a single row is VALUES): a bulk write already.
    facts: { operation: 'INSERT', table: 'shop_tag', writtenColumns: ['name', 'slug'], equalityFilters: [], multiRowValues: true },
  },
  {
    name: 'save() of an existing object updates every column by pk',
    raw: 'UPDATE "recruit_application" SET "candidate_id" = %s, "job_id" = %s, "status_id" = %s, "created_at" = %s WHERE "recruit_application"."id" = %s',
    sql: 'UPDATE "recruit_application" SET "candidate_id" = ?, "job_id" = ?, "status_id" = ?, "created_at" = ? WHERE "recruit_application"."id" = ?',
    facts: {
      operation: 'UPDATE', table: 'recruit_application', equalityFilters: ['recruit_application.id'],
      writtenColumns: ['candidate_id', 'job_id', 'status_id', 'created_at'], selectedColumns: [],
    },
  },
  {
    name: 'save(update_fields=["last_login"]) after login',
    raw: 'UPDATE "auth_user" SET "last_login" = %s WHERE "auth_user"."id" = %s',
    sql: 'UPDATE "auth_user" SET "last_login" = ? WHERE "auth_user"."id" = ?',
    facts: { operation: 'UPDATE', table: 'auth_user', writtenColumns: ['last_login'], equalityFilters: ['auth_user.id'] },
  },
  {
    name: 'bulk_update() of two rows casts a CASE per field',
    raw: 'UPDATE "shop_book" SET "price" = (CASE WHEN ("shop_book"."id" = %s) THEN %s WHEN ("shop_book"."id" = %s) THEN %s ELSE NULL END)::numeric(10, 2) WHERE "shop_book"."id" IN (%s, %s)',
    sql: 'UPDATE "shop_book" SET "price" = (CASE WHEN ("shop_book"."id" = ?) THEN ? ELSE NULL END)::numeric(?, ?) WHERE "shop_book"."id" IN (?)',
    facts: { operation: 'UPDATE', table: 'shop_book', writtenColumns: ['price'], equalityFilters: ['shop_book.id'] },
  },
  {
    name: 'bulk_update() of three rows',
    raw: 'UPDATE "shop_book" SET "price" = (CASE WHEN ("shop_book"."id" = %s) THEN %s WHEN ("shop_book"."id" = %s) THEN %s WHEN ("shop_book"."id" = %s) THEN %s ELSE NULL END)::numeric(10, 2) WHERE "shop_book"."id" IN (%s, %s, %s)',
    sql: 'UPDATE "shop_book" SET "price" = (CASE WHEN ("shop_book"."id" = ?) THEN ? ELSE NULL END)::numeric(?, ?) WHERE "shop_book"."id" IN (?)',
    facts: { writtenColumns: ['price'] },
    sameAs: 'bulk_update() of two rows casts a CASE per field',
  },
  {
    name: 'delete() of a collected set',
    raw: 'DELETE FROM "recruit_note" WHERE "recruit_note"."id" IN (%s, %s)',
    sql: 'DELETE FROM "recruit_note" WHERE "recruit_note"."id" IN (?)',
    facts: { operation: 'DELETE', table: 'recruit_note', equalityFilters: ['recruit_note.id'] },
  },
  {
    name: 'atomic() inside a transaction opens a savepoint',
    raw: 'SAVEPOINT "s140213405730624_x1"',
    sql: 'SAVEPOINT ?',
    facts: { operation: 'SAVEPOINT', transactionControl: true, table: '' },
  },
  {
    name: 'the next savepoint has another name but the same fingerprint',
    raw: 'SAVEPOINT "s140213405730624_x2"',
    sql: 'SAVEPOINT ?',
    facts: { operation: 'SAVEPOINT', transactionControl: true },
    sameAs: 'atomic() inside a transaction opens a savepoint',
  },
  {
    name: 'leaving atomic() releases the savepoint',
    raw: 'RELEASE SAVEPOINT "s140213405730624_x1"',
    sql: 'RELEASE SAVEPOINT ?',
    facts: { operation: 'RELEASE', transactionControl: true },
  },
  {
    name: 'an exception in atomic() rolls back to the savepoint',
    raw: 'ROLLBACK TO SAVEPOINT "s140213405730624_x7"',
    sql: 'ROLLBACK TO SAVEPOINT ?',
    facts: { operation: 'ROLLBACK', transactionControl: true },
  },
  {
    name: 'BEGIN',
    raw: 'BEGIN',
    sql: 'BEGIN',
    facts: { operation: 'BEGIN', transactionControl: true },
  },
  {
    name: 'COMMIT',
    raw: 'COMMIT',
    sql: 'COMMIT',
    facts: { operation: 'COMMIT', transactionControl: true },
  },
  {
    name: 'ROLLBACK',
    raw: 'ROLLBACK',
    sql: 'ROLLBACK',
    facts: { operation: 'ROLLBACK', transactionControl: true },
  },
  {
    name: 'the session lookup every request makes',
    raw: SESSION,
    sql: q(SESSION).replace('LIMIT 21', 'LIMIT ?'),
    facts: {
      table: 'django_session', limit: 21, equalityFilters: ['django_session.session_key'], rangeFilters: ['django_session.expire_date'],
      selectedColumns: ['django_session.session_key', 'django_session.session_data', 'django_session.expire_date'],
    },
  },
  {
    name: 'the auth_user lookup every authenticated request makes',
    raw: `SELECT ${USER_COLS} FROM "auth_user" WHERE "auth_user"."id" = %s LIMIT 21`,
    sql: `SELECT ${USER_COLS} FROM "auth_user" WHERE "auth_user"."id" = ? LIMIT ?`,
    facts: { table: 'auth_user', limit: 21, equalityFilters: ['auth_user.id'] },
  },
  {
    name: 'the auth_user lookup with a sqlcommenter comment',
    raw: `SELECT ${USER_COLS} FROM "auth_user" WHERE "auth_user"."id" = %s LIMIT 21 ${COMMENT}`,
    sql: `SELECT ${USER_COLS} FROM "auth_user" WHERE "auth_user"."id" = ? LIMIT ?`,
    facts: { table: 'auth_user', limit: 21 },
    sameAs: 'the auth_user lookup every authenticated request makes',
  },
  {
    name: 'the auth_user lookup on MySQL quotes with backticks',
    raw: 'SELECT `auth_user`.`id`, `auth_user`.`username` FROM `auth_user` WHERE `auth_user`.`id` = %s LIMIT 21',
    sql: 'SELECT `auth_user`.`id`, `auth_user`.`username` FROM `auth_user` WHERE `auth_user`.`id` = ? LIMIT ?',
    facts: { table: 'auth_user', limit: 21, equalityFilters: ['auth_user.id'], selectedColumns: ['auth_user.id', 'auth_user.username'] },
  },
  {
    name: 'the permission check joins the user-permission through table',
    raw: 'SELECT "django_content_type"."app_label", "auth_permission"."codename" FROM "auth_permission" INNER JOIN "auth_user_user_permissions" ON ("auth_permission"."id" = "auth_user_user_permissions"."permission_id") INNER JOIN "django_content_type" ON ("auth_permission"."content_type_id" = "django_content_type"."id") WHERE "auth_user_user_permissions"."user_id" = %s',
    sql: 'SELECT "django_content_type"."app_label", "auth_permission"."codename" FROM "auth_permission" INNER JOIN "auth_user_user_permissions" ON ("auth_permission"."id" = "auth_user_user_permissions"."permission_id") INNER JOIN "django_content_type" ON ("auth_permission"."content_type_id" = "django_content_type"."id") WHERE "auth_user_user_permissions"."user_id" = ?',
    facts: {
      table: 'auth_permission', equalityFilters: ['auth_user_user_permissions.user_id'],
      joins: [
        { table: 'auth_user_user_permissions', type: 'INNER', on: ['auth_permission.id', 'auth_user_user_permissions.permission_id'] },
        { table: 'django_content_type', type: 'INNER', on: ['auth_permission.content_type_id', 'django_content_type.id'] },
      ],
    },
  },
  {
    name: 'ContentType.objects.get_by_natural_key',
    raw: 'SELECT "django_content_type"."id", "django_content_type"."app_label", "django_content_type"."model" FROM "django_content_type" WHERE ("django_content_type"."app_label" = %s AND "django_content_type"."model" = %s) LIMIT 21',
    sql: 'SELECT "django_content_type"."id", "django_content_type"."app_label", "django_content_type"."model" FROM "django_content_type" WHERE ("django_content_type"."app_label" = ? AND "django_content_type"."model" = ?) LIMIT ?',
    facts: { limit: 21, equalityFilters: ['django_content_type.app_label', 'django_content_type.model'] },
  },
  {
    name: 'session save updates data and expiry by key',
    raw: 'UPDATE "django_session" SET "session_data" = %s, "expire_date" = %s WHERE "django_session"."session_key" = %s',
    sql: 'UPDATE "django_session" SET "session_data" = ?, "expire_date" = ? WHERE "django_session"."session_key" = ?',
    facts: { operation: 'UPDATE', writtenColumns: ['session_data', 'expire_date'], equalityFilters: ['django_session.session_key'] },
  },
  {
    name: 'a paginated list page (LIMIT 20 OFFSET 40)',
    raw: `SELECT ${BOOK_COLS} FROM "shop_book" ORDER BY "shop_book"."title" ASC LIMIT 20 OFFSET 40`,
    sql: `SELECT ${BOOK_COLS} FROM "shop_book" ORDER BY "shop_book"."title" ASC LIMIT ? OFFSET ?`,
    facts: { limit: 20, orderBy: [{ column: 'shop_book.title', direction: 'ASC' }], equalityFilters: [] },
  },
  {
    name: 'a date-range filter with an equality',
    raw: 'SELECT "shop_order"."id", "shop_order"."customer_id", "shop_order"."created_at" FROM "shop_order" WHERE ("shop_order"."created_at" >= %s AND "shop_order"."created_at" < %s AND "shop_order"."customer_id" = %s)',
    sql: 'SELECT "shop_order"."id", "shop_order"."customer_id", "shop_order"."created_at" FROM "shop_order" WHERE ("shop_order"."created_at" >= ? AND "shop_order"."created_at" < ? AND "shop_order"."customer_id" = ?)',
    facts: { rangeFilters: ['shop_order.created_at'], equalityFilters: ['shop_order.customer_id'] },
  },
  {
    name: '__year uses BETWEEN',
    raw: 'SELECT "shop_order"."id" FROM "shop_order" WHERE "shop_order"."created_at" BETWEEN %s AND %s',
    sql: 'SELECT "shop_order"."id" FROM "shop_order" WHERE "shop_order"."created_at" BETWEEN ? AND ?',
    facts: { rangeFilters: ['shop_order.created_at'], equalityFilters: [] },
  },
  {
    name: '__date converts the time zone and casts',
    raw: 'SELECT "shop_order"."id" FROM "shop_order" WHERE ("shop_order"."created_at" AT TIME ZONE %s)::date = %s',
    sql: 'SELECT "shop_order"."id" FROM "shop_order" WHERE ("shop_order"."created_at" AT TIME ZONE ?)::DATE = ?',
    facts: { equalityFilters: ['shop_order.created_at'], selectedColumns: ['shop_order.id'] },
  },
  {
    name: 'exclude() negates, which is no equality filter',
    raw: `SELECT ${APP_COLS} FROM "recruit_application" WHERE NOT ("recruit_application"."status_id" = %s)`,
    sql: `SELECT ${APP_COLS} FROM "recruit_application" WHERE NOT ("recruit_application"."status_id" = ?)`,
    facts: { equalityFilters: [], rangeFilters: [] },
  },
  {
    name: 'IS NULL stays in the text and is no equality filter',
    raw: `SELECT ${APP_COLS} FROM "recruit_application" WHERE ("recruit_application"."archived_at" IS NULL AND "recruit_application"."job_id" = %s)`,
    sql: `SELECT ${APP_COLS} FROM "recruit_application" WHERE ("recruit_application"."archived_at" IS NULL AND "recruit_application"."job_id" = ?)`,
    facts: { equalityFilters: ['recruit_application.job_id'] },
  },
  {
    name: '__iexact compares UPPER() of a cast column',
    raw: `SELECT ${USER_COLS} FROM "auth_user" WHERE UPPER("auth_user"."email"::text) = UPPER(%s) LIMIT 21`,
    sql: `SELECT ${USER_COLS} FROM "auth_user" WHERE UPPER("auth_user"."email"::text) = UPPER(?) LIMIT ?`,
    facts: { equalityFilters: ['auth_user.email'], limit: 21 },
  },
  {
    name: '__icontains is LIKE, no equality filter',
    raw: `SELECT ${BOOK_COLS} FROM "shop_book" WHERE UPPER("shop_book"."title"::text) LIKE UPPER(%s)`,
    sql: `SELECT ${BOOK_COLS} FROM "shop_book" WHERE UPPER("shop_book"."title"::text) LIKE UPPER(?)`,
    facts: { equalityFilters: [], rangeFilters: [] },
  },
  {
    name: '__in with a queryset is a subquery, kept whole',
    raw: `SELECT ${BOOK_COLS} FROM "shop_book" WHERE "shop_book"."author_id" IN (SELECT U0."id" FROM "shop_author" U0 WHERE U0."country" = %s)`,
    sql: `SELECT ${BOOK_COLS} FROM "shop_book" WHERE "shop_book"."author_id" IN (SELECT U0."id" FROM "shop_author" U0 WHERE U0."country" = ?)`,
    facts: { table: 'shop_book', equalityFilters: [], inFilters: [], joins: [] },
  },
  {
    name: '.distinct().count() counts a derived table',
    raw: 'SELECT COUNT(*) FROM (SELECT DISTINCT "shop_book"."id" AS "col1" FROM "shop_book" INNER JOIN "shop_book_tags" ON ("shop_book"."id" = "shop_book_tags"."book_id") WHERE "shop_book_tags"."tag_id" IN (%s, %s)) subquery',
    sql: 'SELECT COUNT(*) FROM (SELECT DISTINCT "shop_book"."id" AS "col1" FROM "shop_book" INNER JOIN "shop_book_tags" ON ("shop_book"."id" = "shop_book_tags"."book_id") WHERE "shop_book_tags"."tag_id" IN (?)) subquery',
    facts: { table: '', aggregate: { fn: 'COUNT', column: '*' }, joins: [], equalityFilters: [] },
  },
  {
    name: 'annotate(Count("book")) returns rows, so it is no aggregate',
    raw: 'SELECT "shop_author"."id", "shop_author"."name", COUNT("shop_book"."id") AS "book__count" FROM "shop_author" LEFT OUTER JOIN "shop_book" ON ("shop_author"."id" = "shop_book"."author_id") GROUP BY "shop_author"."id", "shop_author"."name"',
    sql: 'SELECT "shop_author"."id", "shop_author"."name", COUNT("shop_book"."id") AS "book__count" FROM "shop_author" LEFT OUTER JOIN "shop_book" ON ("shop_author"."id" = "shop_book"."author_id") GROUP BY "shop_author"."id", "shop_author"."name"',
    facts: {
      aggregate: null, table: 'shop_author',
      joins: [{ table: 'shop_book', type: 'LEFT', on: ['shop_author.id', 'shop_book.author_id'] }],
      selectedColumns: ['shop_author.id', 'shop_author.name', 'shop_book.id'],
    },
  },
  {
    name: 'annotate(Exists(...)) puts a correlated subquery in the select list',
    raw: 'SELECT "shop_book"."id", EXISTS(SELECT 1 AS "a" FROM "shop_review" U0 WHERE U0."book_id" = ("shop_book"."id") LIMIT 1) AS "has_reviews" FROM "shop_book"',
    sql: 'SELECT "shop_book"."id", EXISTS(SELECT ? AS "a" FROM "shop_review" U0 WHERE U0."book_id" = ("shop_book"."id") LIMIT ?) AS "has_reviews" FROM "shop_book"',
    facts: { table: 'shop_book', exists: false, limit: null, aggregate: null, selectedColumns: ['shop_book.id'] },
  },
  {
    name: 'select_for_update().get()',
    raw: 'SELECT "shop_order"."id", "shop_order"."status" FROM "shop_order" WHERE "shop_order"."id" = %s LIMIT 21 FOR UPDATE',
    sql: 'SELECT "shop_order"."id", "shop_order"."status" FROM "shop_order" WHERE "shop_order"."id" = ? LIMIT ? FOR UPDATE',
    facts: { limit: 21, equalityFilters: ['shop_order.id'] },
  },
  {
    name: 'values_list("id", flat=True) on a reverse FK',
    raw: 'SELECT "shop_book"."id" FROM "shop_book" WHERE "shop_book"."author_id" = %s',
    sql: 'SELECT "shop_book"."id" FROM "shop_book" WHERE "shop_book"."author_id" = ?',
    facts: { selectedColumns: ['shop_book.id'], equalityFilters: ['shop_book.author_id'] },
  },
  {
    name: 'a JSONField key lookup',
    raw: 'SELECT "shop_book"."id" FROM "shop_book" WHERE ("shop_book"."metadata" -> %s) = %s',
    sql: 'SELECT "shop_book"."id" FROM "shop_book" WHERE ("shop_book"."metadata" -> ?) = ?',
    facts: { equalityFilters: ['shop_book.metadata'] },
  },
  {
    name: 'raw SQL with = ANY(ARRAY[…]) collapses the array',
    raw: 'SELECT "shop_book"."id" FROM "shop_book" WHERE "shop_book"."id" = ANY(ARRAY[3, 5, 8])',
    sql: 'SELECT "shop_book"."id" FROM "shop_book" WHERE "shop_book"."id" = ANY(ARRAY[?])',
    facts: { equalityFilters: ['shop_book.id'], inFilters: ['shop_book.id'] },
  },
  {
    name: 'update_or_create() on a conflict updates in bulk_create(update_conflicts=True)',
    raw: 'INSERT INTO "shop_stock" ("book_id", "quantity") VALUES (%s, %s), (%s, %s) ON CONFLICT("book_id") DO UPDATE SET "quantity" = EXCLUDED."quantity"',
    sql: 'INSERT INTO "shop_stock" ("book_id", "quantity") VALUES (?, ?) ON CONFLICT ("book_id") DO UPDATE SET "quantity" = EXCLUDED."quantity"',
    facts: { operation: 'INSERT', table: 'shop_stock', writtenColumns: ['book_id', 'quantity'] },
  },
];

describe('Django statements', () => {
  const byName = new Map(DJANGO_CASES.map((c) => [c.name, c]));

  test('the table has at least 40 statements', () => {
    expect(DJANGO_CASES.length).toBeGreaterThanOrEqual(40);
  });

  test.each(DJANGO_CASES)('$name', (c) => {
    const got = normalizeSql(c.raw);
    expect(got.sql).toBe(c.sql);
    expect(got.facts).toMatchObject(c.facts);
    expect(got.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    if (c.sameAs !== undefined) {
      const other = byName.get(c.sameAs);
      expect(other, c.sameAs).toBeDefined();
      expect(got.fingerprint).toBe(normalizeSql(other!.raw).fingerprint);
    }
  });

  test('statements with different canonical text have different fingerprints', () => {
    const seen = new Map<string, string>();
    for (const c of DJANGO_CASES) {
      const { fingerprint, sql } = normalizeSql(c.raw);
      const prior = seen.get(fingerprint);
      if (prior !== undefined) expect(sql).toBe(prior);
      seen.set(fingerprint, sql);
    }
    expect(new Set(DJANGO_CASES.map((c) => c.sql)).size).toBe(seen.size);
  });

  test('canonical text keeps no literal value of any statement', () => {
    for (const c of DJANGO_CASES) {
      const { sql } = normalizeSql(c.raw);
      for (const secret of ['4711', "'crime'", 'sci-fi', '140213405730624', 'traceparent', '00-4bf92f']) {
        expect(sql).not.toContain(secret);
      }
      expect(sql).not.toMatch(/\b\d+\b/); // every number in these statements is a value
    }
  });
});

describe('LIMIT values and the ORM calls behind them', () => {
  // The fingerprint keeps `LIMIT ?` whatever the number (DESIGN.md "Fingerprint"; the number stays in
  // facts.limit). `.first()` (LIMIT 1) and `.get()` (LIMIT 21) on one filter are still two
  // fingerprints: first() always orders (Meta.ordering, else order_by('pk')), and get() clears the
  // ordering (clone.order_by()), so their texts differ by ORDER BY; exists() selects `1 AS "a"`.
  const WHERE = 'FROM "recruit_interview" WHERE "recruit_interview"."application_id" = %s';
  const COLS = '"recruit_interview"."id", "recruit_interview"."application_id", "recruit_interview"."scheduled_at"';
  const get = `SELECT ${COLS} ${WHERE} LIMIT 21`;
  const first = `SELECT ${COLS} ${WHERE} ORDER BY "recruit_interview"."id" ASC LIMIT 1`;
  const exists = `SELECT 1 AS "a" ${WHERE} LIMIT 1`;

  test('first(), get() and exists() on one filter are three fingerprints, each keeping its LIMIT in the facts', () => {
    const [g, f, e] = [get, first, exists].map((s) => normalizeSql(s));
    expect(new Set([g!.fingerprint, f!.fingerprint, e!.fingerprint]).size).toBe(3);
    expect([g!.facts.limit, f!.facts.limit, e!.facts.limit]).toEqual([21, 1, 1]);
  });

  test('slices that differ only in size share one: related.all()[:3] and [:5] are one loop', () => {
    const top = (n: number) => normalizeSql(`SELECT ${COLS} ${WHERE} ORDER BY "recruit_interview"."scheduled_at" DESC LIMIT ${n}`);
    expect(top(3).fingerprint).toBe(top(5).fingerprint);
    expect([top(3).facts.limit, top(5).facts.limit]).toEqual([3, 5]);
  });
});
