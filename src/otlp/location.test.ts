import { describe, expect, it } from 'vitest';
import { decodeJsonRequest } from './json.js';
import { decodeProtobufRequest } from './protobuf.js';
import type { SpanRecord } from './span.js';
import { djangoRequest, encodeJson, encodeProtobuf, int, str, type OtlpJsonAttribute } from './testing.js';
import { createWireDecoder } from './wire/decoder.js';

/** The django request with each DB span's attributes extended by `extra(i)` (i = 0 for the trigger). */
function withAttributes(extra: (i: number) => OtlpJsonAttribute[]) {
  const request = djangoRequest({ repeats: 3 });
  const queries = request.resourceSpans[0]!.scopeSpans[1]!.spans;
  queries.forEach((span, i) => span.attributes.push(...extra(i)));
  return request;
}

/** The DB spans' locations as each decoder reads them; the three must agree. */
function locations(request: ReturnType<typeof djangoRequest>) {
  const decoded = [
    createWireDecoder().decode(encodeProtobuf(request)),
    decodeProtobufRequest(encodeProtobuf(request)),
    decodeJsonRequest(encodeJson(request)),
  ].map((batch) => batch.spans.filter((s) => s.dbStatement !== undefined));
  const [wire, protobufjs, json] = decoded.map((spans: SpanRecord[]) => spans.map((s) => s.location));
  expect(protobufjs).toEqual(wire);
  expect(json).toEqual(wire);
  return { locations: wire!, spans: decoded[0]! };
}

describe('code locations on spans', () => {
  it('reads the stable code.* names, the n1lens template and view, and interns equal locations', () => {
    const { locations: found, spans } = locations(
      withAttributes((i) => [
        str('code.file.path', 'recruit/views.py'),
        int('code.line.number', 38),
        str('code.function.name', 'recruit.views.dashboard'),
        str('n1lens.view', 'recruit.views.dashboard'),
        str('n1lens.template.path', 'recruit/templates/recruit/dashboard.html'),
        int('n1lens.template.line', i === 0 ? 7 : 9),
      ]),
    );
    expect(found[0]).toEqual({
      file: 'recruit/views.py', line: 38, function: 'recruit.views.dashboard',
      template: 'recruit/templates/recruit/dashboard.html', templateLine: 7, view: 'recruit.views.dashboard',
    });
    expect(found[1]).toMatchObject({ templateLine: 9 });
    // The loop's spans share one object: a buffered span pays for a reference.
    expect(spans[2]!.location).toBe(spans[1]!.location);
  });

  it('reads the older names, with code.namespace qualifying code.function', () => {
    const { locations: found } = locations(
      withAttributes(() => [str('code.filepath', 'shop/views.py'), int('code.lineno', 12), str('code.namespace', 'shop.views'), str('code.function', 'book_list')]),
    );
    expect(found[1]).toEqual({ file: 'shop/views.py', line: 12, function: 'shop.views.book_list' });
  });

  it('prefers the stable name whatever the attribute order', () => {
    const { locations: found } = locations(
      withAttributes(() => [str('code.filepath', 'old.py'), str('code.file.path', 'new.py'), int('code.lineno', 1), int('code.line.number', 2)]),
    );
    expect(found[1]).toEqual({ file: 'new.py', line: 2 });
  });

  it('takes the innermost frame of a Python code.stacktrace when no file is given', () => {
    const trace = [
      'Traceback (most recent call last):',
      '  File "/srv/app/shop/views.py", line 20, in book_list',
      '    for book in books:',
      '  File "/srv/app/shop/models.py", line 44, in label',
      '    return self.author.name',
    ].join('\n');
    const { locations: found } = locations(withAttributes(() => [str('code.stacktrace', trace)]));
    expect(found[1]).toEqual({ file: '/srv/app/shop/models.py', line: 44, function: 'label' });
  });

  it('names a DRF serializer field, or an admin list_display entry, where no app frame is', () => {
    const drf = locations(
      withAttributes(() => [
        str('n1lens.drf.serializer', 'BookSerializer'), str('n1lens.drf.field', 'author'),
        str('n1lens.drf.file', 'shop/serializers.py'), int('n1lens.drf.line', 16), str('n1lens.view', 'shop.views.BookListAPI'),
      ]),
    );
    expect(drf.locations[1]).toEqual({ file: 'shop/serializers.py', line: 16, function: 'BookSerializer.author', view: 'shop.views.BookListAPI' });
    const admin = locations(
      withAttributes(() => [
        str('n1lens.admin.model_admin', 'BookAdmin'), str('n1lens.admin.list_display', 'editor'),
        str('n1lens.admin.file', 'shop/admin.py'), int('n1lens.admin.line', 11),
      ]),
    );
    expect(admin.locations[1]).toEqual({ file: 'shop/admin.py', line: 11, function: 'BookAdmin.editor' });
  });

  it('keeps the application frame when it is inside the admin method itself (more precise)', () => {
    const { locations: found } = locations(
      withAttributes(() => [
        str('code.file.path', 'shop/admin.py'), int('code.line.number', 15), str('code.function.name', 'shop.admin.BookAdmin.tag_count'),
        str('n1lens.admin.model_admin', 'BookAdmin'), str('n1lens.admin.list_display', 'tag_count'),
        str('n1lens.admin.file', 'shop/admin.py'), int('n1lens.admin.line', 14),
      ]),
    );
    expect(found[1]).toEqual({ file: 'shop/admin.py', line: 15, function: 'shop.admin.BookAdmin.tag_count' });
  });

  it('keeps the application frame when the serializer or ModelAdmin has no file in the app (a library class)', () => {
    // A library serializer reading a model property, and admin.site.register(Book) with its default ModelAdmin.
    const drf = locations(
      withAttributes(() => [
        str('code.file.path', 'shop/models.py'), int('code.line.number', 30), str('code.function.name', 'shop.models.Book.author_name'),
        str('n1lens.drf.serializer', 'ThirdPartySerializer'), str('n1lens.drf.field', 'author_name'),
      ]),
    );
    expect(drf.locations[1]).toEqual({ file: 'shop/models.py', line: 30, function: 'shop.models.Book.author_name' });
    const admin = locations(
      withAttributes(() => [
        str('code.file.path', 'shop/models.py'), int('code.line.number', 12), str('code.function.name', 'shop.models.Book.__str__'),
        str('n1lens.admin.model_admin', 'ModelAdmin'), str('n1lens.admin.list_display', '__str__'),
      ]),
    );
    expect(admin.locations[1]).toEqual({ file: 'shop/models.py', line: 12, function: 'shop.models.Book.__str__' });
    // With no application frame either, the member is all there is.
    const bare = locations(withAttributes(() => [str('n1lens.drf.serializer', 'ThirdPartySerializer'), str('n1lens.drf.field', 'author_name')]));
    expect(bare.locations[1]).toEqual({ function: 'ThirdPartySerializer.author_name' });
  });

  it('leaves spans without location attributes without a location', () => {
    const { locations: found } = locations(withAttributes(() => [str('code.unrelated', 'x'), str('n1lens.other', 'y')]));
    expect(found.every((l) => l === undefined)).toBe(true);
  });
});
