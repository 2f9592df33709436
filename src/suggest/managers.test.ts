import { describe, expect, it } from 'vitest';
import { managerRewrite } from './managers.js';
import { parseSchema } from './schema.js';

const model = (label: string, manager?: string) => ({ model: label, table: label.replace('.', '_').toLowerCase(), pk: 'id', relations: [], ...(manager === undefined ? {} : { manager }) });

describe('managerRewrite', () => {
  it("names a model's own manager where it has no objects, and nothing else", () => {
    const named = managerRewrite(parseSchema({ n1lensSchema: 1, models: [model('shop.Catalogue', 'listed'), model('shop.Book')] }));
    expect(named("Catalogue.objects.select_related('publisher')")).toBe("Catalogue.listed.select_related('publisher')");
    expect(named("Publisher.objects.prefetch_related(Prefetch('catalogues', queryset=Catalogue.objects.order_by('-year')))")).toBe(
      "Publisher.objects.prefetch_related(Prefetch('catalogues', queryset=Catalogue.listed.order_by('-year')))",
    );
    // Another model's manager, a longer class name, an M2M's join table: left as they are.
    expect(named('Book.objects.all() BigCatalogue.objects.all() Book.catalogues.through.objects.all()')).toBe(
      'Book.objects.all() BigCatalogue.objects.all() Book.catalogues.through.objects.all()',
    );
  });

  it('leaves a class name two apps share alone unless both lack objects alike', () => {
    const shared = (other?: string) => managerRewrite(parseSchema({ n1lensSchema: 1, models: [model('shop.Catalogue', 'listed'), model('print.Catalogue', other)] }));
    expect(shared()('Catalogue.objects.all()')).toBe('Catalogue.objects.all()');
    expect(shared('shown')('Catalogue.objects.all()')).toBe('Catalogue.objects.all()');
    expect(shared('listed')('Catalogue.objects.all()')).toBe('Catalogue.listed.all()');
  });

  it("names a shared class name's manager by the model whose table the endpoint reads", () => {
    const schema = parseSchema({ n1lensSchema: 1, models: [model('shop.Catalogue', 'listed'), model('print.Catalogue')] });
    expect(managerRewrite(schema, ['shop_catalogue', 'shop_publisher'])('Catalogue.objects.all()')).toBe('Catalogue.listed.all()');
    expect(managerRewrite(schema, ['print_catalogue'])('Catalogue.objects.all()')).toBe('Catalogue.objects.all()');
    // Both read: which one a line means is not in the text.
    expect(managerRewrite(schema, ['shop_catalogue', 'print_catalogue'])('Catalogue.objects.all()')).toBe('Catalogue.objects.all()');
  });
});
