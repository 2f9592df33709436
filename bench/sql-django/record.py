"""Records the statements Django hands to psycopg for ORM calls and admin pages: src/sql/testdata/django-statements.jsonl.

  N1LENS_PG_URL=$(scripts/postgres.sh url) .venv/bin/python bench/sql-django/record.py > src/sql/testdata/django-statements.jsonl
"""
import os, sys, json, datetime
os.environ['DJANGO_SETTINGS_MODULE'] = 'settings'
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import django
django.setup()
from django.core.management import call_command
from django.db import connection, transaction
call_command('migrate', verbosity=0)
from django.db.models import Count, Sum, Avg, Max, Min, Q, F, Exists, OuterRef, Subquery, Prefetch, Value
from django.contrib.auth.models import User
from django.test import Client
from shop.models import Author, Book, Tag, Review

seen = []
def wrapper(execute, sql, params, many, context):
    seen.append(sql)
    return execute(sql, params, many, context)

with connection.execute_wrapper(wrapper):
    Review.objects.all().delete(); Book.objects.all().delete(); Author.objects.all().delete(); Tag.objects.all().delete()
    User.objects.filter(username='admin').delete()
    admin = User.objects.create_superuser('admin', 'a@example.com', 'pw')
    tags = Tag.objects.bulk_create([Tag(label=f't{i}') for i in range(5)])
    authors = [Author.objects.create(name=f'A{i}', email=f'a{i}@x.org') for i in range(6)]
    books = []
    for i in range(30):
        b = Book.objects.create(title=f'Book {i}', author=authors[i % 6], price=i, published=datetime.date(2020, 1 + i % 12, 1), owner=admin)
        b.tags.add(tags[i % 5], tags[(i + 1) % 5])
        books.append(b)
    Review.objects.bulk_create([Review(book=books[i % 30], rating=i % 5, body='ok') for i in range(60)])
    # ORM shapes
    list(Book.objects.all())
    list(Book.objects.select_related('author').order_by('-published')[:10])
    list(Book.objects.prefetch_related('tags', 'reviews'))
    list(Author.objects.prefetch_related(Prefetch('books', queryset=Book.objects.filter(in_stock=True).order_by('title'))))
    Book.objects.count(); Book.objects.filter(in_stock=True).count()
    Book.objects.filter(author__name='A1').exists()
    Book.objects.get(pk=books[0].pk); Book.objects.filter(title__icontains='book').first(); Book.objects.last()
    list(Book.objects.filter(title__istartswith='bo')); list(Book.objects.filter(title__contains='o'))
    list(Book.objects.filter(title__iexact='book 1')); list(Book.objects.filter(title__startswith='B'))
    list(Author.objects.annotate(n=Count('books')).order_by('-n'))
    list(Author.objects.annotate(n=Count('books'), avg=Avg('books__price')).filter(n__gt=1))
    list(Book.objects.values('author').annotate(total=Sum('price')).order_by())
    list(Book.objects.values('author__name').annotate(c=Count('id')))
    Book.objects.aggregate(Sum('price'), Max('published')); Review.objects.aggregate(a=Avg('rating'))
    list(Book.objects.distinct()); list(Book.objects.filter(tags__label='t1').distinct())
    list(Book.objects.filter(tags__label__in=['t1', 't2']).distinct().count() for _ in [0])
    list(Book.objects.filter(author__in=Author.objects.filter(name__startswith='A')))
    list(Book.objects.filter(Exists(Review.objects.filter(book=OuterRef('pk'), rating__gte=4))))
    list(Book.objects.annotate(best=Subquery(Review.objects.filter(book=OuterRef('pk')).order_by('-rating').values('rating')[:1])))
    list(Book.objects.filter(Q(price__gt=5) | Q(title__startswith='X')))
    list(Book.objects.exclude(in_stock=False)); list(Book.objects.exclude(author__name='A1'))
    list(Book.objects.filter(published__year=2020)); list(Book.objects.filter(published__range=(datetime.date(2020,1,1), datetime.date(2020,6,1))))
    list(Book.objects.filter(owner__isnull=True)); list(Book.objects.values_list('id', flat=True))
    list(Book.objects.order_by('?')[:3]); list(Book.objects.filter(price__lte=F('price') * 2))
    list(Book.objects.dates('published', 'month')); list(Book.objects.only('title')); list(Book.objects.defer('price'))
    Book.objects.filter(pk=books[0].pk).update(price=F('price') + 1)
    Book.objects.filter(in_stock=False).update(in_stock=True)
    for b in books[:3]: b.price = 1
    Book.objects.bulk_update(books[:3], ['price'])
    Author.objects.get_or_create(name='A1', defaults={'email': 'z'}); Author.objects.get_or_create(name='New', defaults={'email': 'z'})
    Author.objects.update_or_create(name='A2', defaults={'email': 'y'})
    with transaction.atomic():
        with transaction.atomic():
            Tag.objects.create(label='nested')
    b = books[0]; b.title = 'Renamed'; b.save(); b.save(update_fields=['title'])
    with transaction.atomic(): list(Book.objects.select_for_update().filter(pk=b.pk))
    Review.objects.filter(rating=0).delete()
    list(books[1].tags.all()); list(authors[0].books.all()); books[2].reviews.count()
    Book.objects.in_bulk([x.pk for x in books[:5]])
    list(Book.objects.filter(id__in=[x.pk for x in books[:7]]).order_by('id')[5:15])
    list(Book.objects.annotate(nrev=Count('reviews', distinct=True), ntag=Count('tags', distinct=True)))
    list(User.objects.filter(is_active=True, groups__isnull=True))
    authors[5].delete()
    # admin
    c = Client(); c.force_login(admin)
    for url in ['/admin/', '/admin/shop/book/', '/admin/shop/book/?q=book', '/admin/shop/book/?q=book+5', '/admin/shop/book/?in_stock__exact=1',
                '/admin/shop/book/?published__year=2020', '/admin/shop/book/?o=2.-1', '/admin/shop/book/?author__id__exact=%d' % authors[1].pk,
                '/admin/shop/author/', '/admin/shop/author/?q=a1', '/admin/shop/author/?q=a1%40x.org', '/admin/shop/review/', '/admin/shop/review/?q=ok&rating=3',
                '/admin/shop/book/%d/change/' % books[3].pk, '/admin/shop/review/%d/change/' % Review.objects.first().pk, '/admin/shop/tag/', '/admin/shop/book/add/', '/admin/shop/book/?p=2']:
        r = c.get(url); assert r.status_code == 200, (url, r.status_code)
    r = c.post('/admin/shop/author/%d/change/' % authors[1].pk, {'name': 'A1b', 'email': 'q@x.org'})
    r = c.post('/admin/shop/book/', {'action': 'delete_selected', '_selected_action': [books[9].pk, books[10].pk], 'post': 'yes'})

# Distinct statements in the order they were first run, one JSON string per line.
for sql in dict.fromkeys(seen):
    print(json.dumps(sql))
