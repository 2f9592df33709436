"""The fixes n1-report prints, pasted into Django as printed: each test runs an N+1 loop over the shop
models under tracing, asks the real n1-report (Node, with the schema `n1lens_schema` writes) for the
fix, evaluates the printed queryset, and checks that its rows read what the loop read, with no query
per row. DESIGN's promise: a printed fix works when pasted as printed."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db import connection, models
from django.db.models.functions import Coalesce
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from n1lens_django.pytest_plugin import write_schema, write_traces
from printing import models as press
from shop import models as shop
from shop.models import Account, Article, Author, BargainBook, Blurb, Board, Book, Catalogue, City, Club, Comment, Country, Currency, Essay, Employee, Forum, Invoice, Issue, Magazine, Membership, OrderLine, Place, Placement, Poem, Post, Profile, Publisher, Restaurant, Review, Savings, Shelf, Stamp, Tag, Ticket, Topic, Visit

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[3]
N1_REPORT = REPO / "bin" / "n1-report.js"
ROWS = 6  # n1lens reports a loop from 5 repeats

# What a pasted fix may name: the app's models, auth's User, ContentType, and django.db.models (Count, Exists, OuterRef, Q, …).
PASTE_NAMES = {**vars(models), **{k: v for k, v in vars(shop).items() if isinstance(v, type)}, "User": User, "ContentType": ContentType}


def books(n=ROWS):
    """`n` books, each with its own author and publisher."""
    return [
        Book.objects.create(title=f"b{i}", author=Author.objects.create(name=f"a{i}"), publisher=Publisher.objects.create(name=f"p{i}"))
        for i in range(n)
    ]


def report_of(exporter, tmp_path, loop, schema=True):
    """The report's one endpoint for a request that runs `loop()`, named with the exported schema
    (or by Django's conventions alone)."""
    node = shutil.which("node")
    if node is None or not N1_REPORT.exists():
        pytest.skip("needs node and the built n1-report (npm run build)")
    provider = trace.get_tracer_provider()
    assert provider.force_flush(10_000)
    exporter.clear()
    with trace.get_tracer("n1lens-tests").start_as_current_span("GET loop/", kind=SpanKind.SERVER):
        loop()
    assert provider.force_flush(10_000)
    traces = tmp_path / "traces.pb.gz"
    write_traces(exporter.get_finished_spans(), traces)
    names = ["--schema", str(write_schema(tmp_path / "schema.json"))] if schema else []
    done = subprocess.run([node, str(N1_REPORT), "--format", "json", *names, str(traces)], capture_output=True, text=True, timeout=120)
    assert done.stdout, done.stderr
    (endpoint,) = json.loads(done.stdout)["endpoints"]
    return endpoint


def pasted(fix):
    """The printed fix's queryset: its first line, evaluated as the user would paste it."""
    code = fix.split("\n")[0]
    assert not code.startswith("#"), fix
    return eval(code, dict(PASTE_NAMES))  # noqa: S307 - the code under test is n1lens's own output


def reads_of(endpoint, model):
    """Every finding's read after the fix (`readInstead.read`, on the pasted queryset's rows) and
    before it (`insteadOf`, the loop's own code on a plain row of `model`), by finding table and row;
    and the number of queries the fixed rows and their reads took. Findings are keyed by their SQL."""
    reads = {f["sql"]: f["suggestion"]["readInstead"] for f in endpoint["findings"] if "readInstead" in f["suggestion"]}
    assert reads, endpoint
    row_variable = re.match(r"\w+", next(iter(reads.values()))["read"]).group(0)
    names = dict(PASTE_NAMES)

    def each(rows, code):
        return {sql: {row.pk: eval(r[code], names, {row_variable: row}) for row in rows} for sql, r in reads.items()}  # noqa: S307

    with CaptureQueriesContext(connection) as queries:
        fixed = each(list(pasted(endpoint["fix"])), "read")
    return fixed, each(model.objects.all(), "insteadOf"), len(queries)


def finding_on(endpoint, table, sql=""):
    (finding,) = [f for f in endpoint["findings"] if f["table"] == table and sql in f["sql"]]
    return finding


def test_a_relation_of_an_already_joined_table_extends_its_path(exporter, tmp_path):
    for b in books():
        Review.objects.create(book=b, stars=3)

    def loop():
        for review in Review.objects.select_related("book"):
            review.book.author.name

    endpoint = report_of(exporter, tmp_path, loop)
    assert finding_on(endpoint, "shop_author")["chain"] == ["book", "author"]
    assert endpoint["fix"] == "Review.objects.select_related('book__author')"
    fixed, before, queries = reads_of(endpoint, Review)
    assert fixed == before
    assert queries == 1


def test_a_reverse_one_to_one_is_select_related_and_read_as_an_attribute(exporter, tmp_path):
    for b in books():
        Profile.objects.create(author=b.author)

    def loop():
        for author in Author.objects.all():
            author.profile

    endpoint = report_of(exporter, tmp_path, loop)
    assert endpoint["fix"] == "Author.objects.select_related('profile')"
    fixed, before, queries = reads_of(endpoint, Author)
    assert fixed == before
    assert queries == 1


def test_a_model_with_a_proxy_is_fixed_on_itself_not_on_its_proxy(exporter, tmp_path):
    # BargainBook, a proxy of Book whose manager keeps the bargains only, is listed before Book in the
    # schema (by label): it shares Book's table, so the table alone does not tell them apart.
    for i, b in enumerate(books()):
        b.title = f"bargain {i}" if i % 2 else b.title
        b.save()

    def loop():
        for book in Book.objects.all():
            book.author.name

    endpoint = report_of(exporter, tmp_path, loop)
    assert endpoint["fix"] == "Book.objects.select_related('author')"
    fixed, before, queries = reads_of(endpoint, Book)
    assert fixed == before
    assert len(fixed[finding_on(endpoint, "shop_author")["sql"]]) == ROWS
    assert queries == 1


def test_exists_through_a_forward_fk_answers_for_the_related_row(exporter, tmp_path):
    shelf = books()
    for b in shelf[:3]:
        Review.objects.create(book=b, stars=4)
    # Each line's book is another row's id, so OuterRef('pk') would answer for the wrong book.
    for b in reversed(shelf):
        OrderLine.objects.create(book=b, quantity=1)

    def loop():
        for line in OrderLine.objects.all():
            line.book.reviews.exists()

    endpoint = report_of(exporter, tmp_path, loop)
    fixed, before, queries = reads_of(endpoint, OrderLine)
    assert fixed == before
    assert sorted(fixed[finding_on(endpoint, "shop_review")["sql"]].values()) == [False] * 3 + [True] * 3
    assert queries == 1


def test_exists_over_an_m2m_runs_and_answers_per_row(exporter, tmp_path):
    for i, b in enumerate(books()):
        if i % 2:
            b.tags.add(Tag.objects.create(label=f"t{i}"))

    def loop():
        for book in Book.objects.all():
            book.tags.exists()

    endpoint = report_of(exporter, tmp_path, loop)
    # Django asks the join table alone (SELECT 1 FROM shop_book_tags WHERE book_id = %s LIMIT 1).
    assert finding_on(endpoint, "shop_book_tags")["chain"] == ["tags"]
    fixed, before, queries = reads_of(endpoint, Book)
    assert fixed == before
    assert queries == 1


def test_counts_and_sums_over_two_to_many_relations_count_each_row_once(exporter, tmp_path):
    for b in books():
        for stars in (1, 2):
            Review.objects.create(book=b, stars=stars)
        b.tags.set([Tag.objects.create(label=f"{b.pk}-{i}") for i in range(3)])

    def loop():
        for book in Book.objects.all():
            book.reviews.count()
            book.tags.count()
            book.reviews.aggregate(models.Sum("stars"))

    endpoint = report_of(exporter, tmp_path, loop)
    fixed, before, queries = reads_of(endpoint, Book)
    assert fixed == before
    values = {sql: set(by_row.values()) for sql, by_row in fixed.items()}
    assert values[finding_on(endpoint, "shop_book_tags")["sql"]] == {3}
    assert values[finding_on(endpoint, "shop_review", "COUNT")["sql"]] == {2}
    assert values[finding_on(endpoint, "shop_review", "SUM")["sql"]] == {3}
    assert queries == 1


@pytest.mark.parametrize(
    ("parent", "child", "link", "related"),
    [
        # A denormalised posts_count column, stale as such a count may be: annotate(posts_count=...)
        # raises "The annotation 'posts_count' conflicts with a field on the model."
        (lambda: Forum.objects.create(posts_count=99), Post, "forum", "posts"),
        # A read-only topics_count property: annotate(topics_count=...) fails on every row ("has no setter").
        (lambda: Board.objects.create(), Topic, "board", "topics"),
    ],
    ids=["field", "property"],
)
def test_a_count_named_like_an_attribute_of_the_model_is_annotated_under_a_name_of_its_own(exporter, tmp_path, parent, child, link, related):
    for i in range(ROWS):
        row = parent()
        for _ in range(i % 3):
            child.objects.create(**{link: row})
    model = type(row)

    def loop():
        for row in model.objects.all():
            getattr(row, related).count()

    endpoint = report_of(exporter, tmp_path, loop)
    fixed, before, queries = reads_of(endpoint, model)
    assert fixed == before
    assert set(fixed[finding_on(endpoint, child._meta.db_table)["sql"]].values()) == {0, 1, 2}
    assert queries == 1


def test_a_to_one_count_and_sum_beside_a_to_many_count_take_its_one_row_once(exporter, tmp_path):
    for i in range(ROWS):
        author = Author.objects.create(name=f"a{i}")
        for j in range(i % 3 + 1):
            Book.objects.create(title=f"b{i}-{j}", author=author, publisher=Publisher.objects.create(name=f"p{i}-{j}"))
        if i % 2:
            Profile.objects.create(author=author, points=10)

    def loop():
        for author in Author.objects.all():
            author.book_set.count()
            Profile.objects.filter(author=author).count()
            Profile.objects.filter(author=author).aggregate(models.Sum("points"))

    endpoint = report_of(exporter, tmp_path, loop)
    # The books join repeats the author's one profile row once per book: 3 books gave 3 and 30.
    fixed, before, queries = reads_of(endpoint, Author)
    assert fixed == before
    values = {sql: set(by_row.values()) for sql, by_row in fixed.items()}
    assert values[finding_on(endpoint, "shop_book")["sql"]] == {1, 2, 3}
    assert values[finding_on(endpoint, "shop_profile", "COUNT")["sql"]] == {0, 1}
    assert values[finding_on(endpoint, "shop_profile", "SUM")["sql"]] == {None, 10}
    assert queries == 1


def currencies():
    """Currencies whose codes are no row's id, each with 0, 1 or 2 invoices, in another order."""
    rows = [Currency.objects.create(code=f"C{i}", name=f"n{i}") for i in range(ROWS)]
    for i, c in enumerate(reversed(rows)):
        for j in range(i % 3):
            Invoice.objects.create(currency=c, total=10 * i + j)
    return rows


def test_a_foreign_key_to_a_unique_field_is_select_related_and_read_by_that_field(exporter, tmp_path):
    currencies()

    def loop():
        for invoice in Invoice.objects.all():
            invoice.currency.name

    endpoint = report_of(exporter, tmp_path, loop)
    assert endpoint["fix"] == "Invoice.objects.select_related('currency')"
    # The loop's own query looks the row up by its code (to_field), never by pk.
    assert finding_on(endpoint, "shop_currency")["suggestion"]["readInstead"] == {
        "read": "invoice.currency", "insteadOf": "Currency.objects.get(code=invoice.currency_id)", "required": False,
    }
    fixed, before, queries = reads_of(endpoint, Invoice)
    assert fixed == before
    assert queries == 1


def test_exists_through_a_foreign_key_to_a_unique_field_compares_that_field(exporter, tmp_path):
    currencies()

    def loop():
        for currency in Currency.objects.all():
            currency.invoice_set.exists()

    endpoint = report_of(exporter, tmp_path, loop)
    fixed, before, queries = reads_of(endpoint, Currency)
    # OuterRef('pk') would compare each invoice's code with the currency's id: False for every row.
    assert fixed == before
    assert set(fixed[finding_on(endpoint, "shop_invoice")["sql"]].values()) == {False, True}
    assert queries == 1


def test_a_count_filtered_per_row_keeps_its_filter(exporter, tmp_path):
    for i, b in enumerate(books()):
        for stars in range(i % 3 + 1):
            Review.objects.create(book=b, stars=5 if stars else 1)

    def loop():
        for book in Book.objects.all():
            book.reviews.filter(stars=5).count()

    endpoint = report_of(exporter, tmp_path, loop)
    assert endpoint["fix"] == ""  # a plain Count('reviews') would count every review
    cure = finding_on(endpoint, "shop_review")["suggestion"]
    assert cure["method"] == "manual"
    # The cure with the loop's own value filled in, as its text says.
    annotation = re.search(r"annotate\((\w+)=(.*)\) with the loop's own filter values", cure["code"])
    assert annotation is not None, cure["code"]
    name, expr = annotation.group(1), annotation.group(2).replace("…", "5")
    fixed = {b.pk: getattr(b, name) for b in Book.objects.annotate(**{name: eval(expr, dict(PASTE_NAMES))})}  # noqa: S307
    assert fixed == {b.pk: b.reviews.filter(stars=5).count() for b in Book.objects.all()}
    assert set(fixed.values()) == {0, 1, 2}


def shelve_books():
    """Books on two or three of three shelves, each at a position: some at position 0 on a shelf, some at none."""
    shelves = [Shelf.objects.create() for _ in range(3)]
    for i, b in enumerate(books()):
        for position, shelf in enumerate(shelves[i % 2:]):
            Placement.objects.create(shelf=shelf, book=b, position=(position + i) % 3)


def test_first_ordered_by_a_through_model_column_keeps_that_order(exporter, tmp_path):
    shelve_books()

    def loop():
        for book in Book.objects.all():
            book.shelves.order_by("placement__position").first()

    endpoint = report_of(exporter, tmp_path, loop)
    fixed, before, queries = reads_of(endpoint, Book)
    assert fixed == before
    assert queries == 2  # the books, and the prefetch


def test_without_a_schema_an_m2m_through_its_own_model_is_named_by_both_readings_not_its_table(exporter, tmp_path):
    clubs = [Club.objects.create() for _ in range(3)]
    for i, b in enumerate(books()):
        for club in clubs[i % 2:]:
            Membership.objects.create(club=club, author=b.author)

    def loop():
        for author in Author.objects.all():
            list(author.clubs.all())

    endpoint = report_of(exporter, tmp_path, loop, schema=False)
    # The join table is Membership's: 'membership' (its query name on Author) is no accessor to prefetch.
    with pytest.raises(AttributeError):
        list(Author.objects.prefetch_related("membership"))
    assert endpoint["fix"] == ""
    cure = finding_on(endpoint, "shop_club")["suggestion"]
    assert cure["method"] == "manual"
    assert "'membership'" not in cure["code"]
    # Club declares it, with related_name='clubs': the first reading, by its related_name, as the cure says.
    assert "prefetch_related('club_set') if Club declares the ManyToManyField" in cure["code"]
    assert "by its related_name if it has one" in cure["code"]
    with CaptureQueriesContext(connection) as queries:
        fixed = {a.pk: sorted(c.pk for c in a.clubs.all()) for a in Author.objects.prefetch_related("clubs")}
    assert fixed == {a.pk: sorted(c.pk for c in a.clubs.all()) for a in Author.objects.all()}
    assert len(queries) == 2


def test_rows_of_an_auto_created_join_table_are_read_through_its_m2m_by_names_that_exist(exporter, tmp_path):
    for i, b in enumerate(books()):
        b.tags.set([Tag.objects.create(label=f"{b.pk}-{t}") for t in range(i % 3)])

    def loop():
        for book in Book.objects.all():
            list(Book.tags.through.objects.filter(book=book))

    endpoint = report_of(exporter, tmp_path, loop)
    assert "Book_tags" not in json.dumps(endpoint)
    read = finding_on(endpoint, "shop_book_tags")["suggestion"]["readInstead"]
    assert read["required"]  # the loop reads the join rows itself: it must read the M2M instead
    names = dict(PASTE_NAMES)
    with CaptureQueriesContext(connection) as queries:
        fixed = {b.pk: sorted(t.pk for t in eval(read["read"], names, {"book": b})) for b in pasted(endpoint["fix"])}  # noqa: S307
    before = {b.pk: sorted(r.tag_id for r in eval(read["insteadOf"], names, {"book": b})) for b in Book.objects.all()}  # noqa: S307
    assert fixed == before
    assert {len(v) for v in fixed.values()} == {0, 1, 2}
    assert len(queries) == 2  # the books, and the prefetch


def test_the_first_join_table_row_per_row_is_loaded_once_as_the_cure_says(exporter, tmp_path):
    for i, b in enumerate(books()):
        b.tags.set([Tag.objects.create(label=f"{b.pk}-{t}") for t in range(i % 3)])

    def loop():
        for book in Book.objects.all():
            Book.tags.through.objects.filter(book=book).first()

    endpoint = report_of(exporter, tmp_path, loop)
    assert "Book_tags" not in json.dumps(endpoint)
    cure = finding_on(endpoint, "shop_book_tags")["suggestion"]
    assert cure["method"] == "manual"
    # The cure's query, with the loop's rows filled in as its text says.
    query = re.search(r"load them once, (\S+\.objects\.filter\(.*?\)\.order_by\(.*?\)),", cure["code"])
    assert query is not None, cure["code"]
    rows = eval(query.group(1).replace("<the Book rows>", "Book.objects.all()"), dict(PASTE_NAMES))  # noqa: S307
    first = {}
    for row in rows:
        first.setdefault(row.book_id, row)
    assert {b.pk: first.get(b.pk) for b in Book.objects.all()} == {b.pk: Book.tags.through.objects.filter(book=b).first() for b in Book.objects.all()}


def test_a_multi_table_child_read_from_its_parent_is_its_one_to_one(exporter, tmp_path):
    for i, b in enumerate(books()):
        (Restaurant if i % 2 else Place).objects.create(owner=b.author)

    def loop():
        for place in Place.objects.all():
            try:
                place.restaurant
            except Restaurant.DoesNotExist:
                pass

    endpoint = report_of(exporter, tmp_path, loop)
    finding = finding_on(endpoint, "shop_restaurant")
    assert finding["chain"] == ["restaurant"]
    assert endpoint["fix"] == "Place.objects.select_related('restaurant')"

    def restaurant_of(place):
        try:
            return place.restaurant
        except Restaurant.DoesNotExist:
            return None

    with CaptureQueriesContext(connection) as queries:
        fixed = {p.pk: restaurant_of(p) for p in pasted(endpoint["fix"])}
    assert fixed == {p.pk: restaurant_of(p) for p in Place.objects.all()}
    assert sum(r is not None for r in fixed.values()) == 3
    assert len(queries) == 1


def test_a_loop_through_one_of_two_foreign_keys_to_one_model_loads_both(exporter, tmp_path):
    for b in books():
        Ticket.objects.create(created_by=b.author, assignee=Author.objects.create(name=f"on {b.title}"))

    def loop():
        for ticket in Ticket.objects.all():
            ticket.assignee.name

    endpoint = report_of(exporter, tmp_path, loop)
    finding = finding_on(endpoint, "shop_author")
    # The SQL is the same for either: both are named, neither with confidence.
    assert finding["chain"] == ["created_by|assignee"]
    assert finding["suggestion"]["confidence"] == "inferred"
    assert endpoint["fix"] == "Ticket.objects.select_related('created_by', 'assignee')"
    with CaptureQueriesContext(connection) as queries:
        fixed = {t.pk: (t.assignee.name, t.created_by.name) for t in pasted(endpoint["fix"])}
    assert fixed == {t.pk: (t.assignee.name, t.created_by.name) for t in Ticket.objects.all()}
    assert len(queries) == 1


def test_of_two_foreign_keys_the_one_the_trigger_already_joins_is_not_the_loop(exporter, tmp_path):
    for b in books():
        Ticket.objects.create(created_by=b.author, assignee=Author.objects.create(name=f"on {b.title}"))

    def loop():
        for ticket in Ticket.objects.select_related("created_by"):
            ticket.assignee.name

    endpoint = report_of(exporter, tmp_path, loop)
    finding = finding_on(endpoint, "shop_author")
    assert finding["chain"] == ["assignee"]
    assert finding["suggestion"]["confidence"] == "exact"
    assert endpoint["fix"] == "Ticket.objects.select_related('created_by', 'assignee')"


def employees_two_levels_deep():
    """ROWS employees whose manager has a manager (and those managers, in the same table)."""
    top = Employee.objects.create()
    middle = Employee.objects.create(manager=top)
    for _ in range(ROWS):
        Employee.objects.create(manager=Employee.objects.create(manager=middle))


def managers_of_managers(rows):
    return {e.pk: (e.manager and e.manager.pk, e.manager and e.manager.manager and e.manager.manager.pk) for e in rows}


def test_a_self_referential_fk_two_levels_deep_is_followed_as_deep_as_the_rows_go(exporter, tmp_path):
    employees_two_levels_deep()

    def loop():
        for e in Employee.objects.all():
            e.mentors.count()  # once per row: where each row's queries start
            if e.manager is not None and e.manager.manager is not None:
                e.manager.manager.pk

    endpoint = report_of(exporter, tmp_path, loop)
    finding = finding_on(endpoint, "shop_employee")
    assert finding["chain"] == ["manager", "manager"]
    with CaptureQueriesContext(connection) as queries:
        fixed = managers_of_managers(pasted(endpoint["fix"]))
    assert fixed == managers_of_managers(Employee.objects.all())
    assert len(queries) == 1


def test_a_self_referential_fk_of_unknown_depth_says_the_loop_may_go_deeper(exporter, tmp_path):
    employees_two_levels_deep()

    def loop():
        for e in Employee.objects.all():
            if e.manager is not None and e.manager.manager is not None:
                e.manager.manager.pk

    endpoint = report_of(exporter, tmp_path, loop)
    suggestion = finding_on(endpoint, "shop_employee")["suggestion"]
    assert endpoint["fix"] == "Employee.objects.select_related('manager')"
    # The note's deeper fix, pasted, reads both levels in one query.
    deeper = re.search(r"(select_related\('manager__manager'\))", suggestion["note"])
    assert deeper is not None, suggestion
    with CaptureQueriesContext(connection) as queries:
        fixed = managers_of_managers(eval(f"Employee.objects.{deeper.group(1)}", dict(PASTE_NAMES)))  # noqa: S307
    assert fixed == managers_of_managers(Employee.objects.all())
    assert len(queries) == 1


def test_a_per_row_fetch_that_joins_a_relation_keeps_the_join_in_select_related(exporter, tmp_path):
    for i in range(ROWS):
        Issue.objects.create(magazine=Magazine.objects.create(publisher=Publisher.objects.create(name=f"p{i}")))

    def loop():
        for issue in Issue.objects.all():
            issue.magazine.publisher.name

    # issue.magazine goes through Magazine's base manager, which joins the publisher: one query per
    # row, and select_related('magazine') alone would leave one per row for the publisher.
    endpoint = report_of(exporter, tmp_path, loop)
    assert endpoint["fix"] == "Issue.objects.select_related('magazine__publisher')"
    with CaptureQueriesContext(connection) as queries:
        fixed = {i.pk: i.magazine.publisher.name for i in pasted(endpoint["fix"])}
    assert fixed == {i.pk: i.magazine.publisher.name for i in Issue.objects.all()}
    assert len(queries) == 1


def test_a_related_set_fetched_with_select_related_per_row_is_prefetched_with_it(exporter, tmp_path):
    shelves = [Shelf.objects.create() for _ in range(ROWS)]
    for i, b in enumerate(books()):
        for position, shelf in enumerate(shelves[i % 2:]):
            Placement.objects.create(shelf=shelf, book=b, position=position)

    def titles(placements):
        return sorted((p.position, p.book.title) for p in placements)

    def loop():
        for shelf in Shelf.objects.all():
            titles(shelf.placement_set.select_related("book"))

    endpoint = report_of(exporter, tmp_path, loop)
    fix, read = endpoint["fix"].split("\n")
    assert fix == "Shelf.objects.prefetch_related(Prefetch('placement_set', queryset=Placement.objects.select_related('book')))"
    # A select_related() on the relation is a query of its own: the loop must read the prefetched rows.
    assert read == "# then read shelf.placement_set.all(), not shelf.placement_set.select_related('book')"
    with CaptureQueriesContext(connection) as queries:
        fixed = {s.pk: titles(s.placement_set.all()) for s in pasted(fix)}
    assert fixed == {s.pk: titles(s.placement_set.select_related("book")) for s in Shelf.objects.all()}
    assert len(queries) == 2  # the shelves, and the placements with their books


def test_a_key_with_no_reverse_accessor_is_never_named_by_one(exporter, tmp_path):
    # Book.editor has related_name='+': User has no book_set to prefetch and no 'book' to Count().
    users = [User.objects.create(username=f"u{i}") for i in range(ROWS)]
    for b, editor in zip(books(), [0, 0, 0, 1, 1, 2]):
        b.editor = users[editor]
        b.save()

    def loop():
        for user in User.objects.all():
            Book.objects.filter(editor=user).exists()
            Book.objects.filter(editor=user).count()
            list(Book.objects.filter(editor=user))

    endpoint = report_of(exporter, tmp_path, loop)
    printed = json.dumps(endpoint)
    assert "book_set" not in printed and "'book'" not in printed
    assert {(tuple(f["chain"]), f["suggestion"]["path"]) for f in endpoint["findings"]} == {(("Book.editor",), "Book.editor")}
    # exists(): an Exists() over the key itself, pasted as printed.
    assert endpoint["fix"].split("\n")[0] == "User.objects.annotate(has_book=Exists(Book.objects.filter(editor=OuterRef('pk'))))"
    fixed, before, queries = reads_of(endpoint, User)
    assert fixed == before
    assert sorted(fixed[finding_on(endpoint, "shop_book", "SELECT ? AS")["sql"]].values()) == [False] * 3 + [True] * 3
    assert queries == 1
    # count(): the cure's subquery, pasted with the Coalesce it names.
    cure = finding_on(endpoint, "shop_book", "COUNT")["suggestion"]
    assert cure["method"] == "manual"
    annotation = re.search(r"annotate\((\w+)=(Coalesce\(.*?, 0\))\) \(Coalesce from django\.db\.models\.functions\)", cure["code"])
    assert annotation is not None, cure["code"]
    name, expr = annotation.groups()
    with CaptureQueriesContext(connection) as queries:
        counts = {u.pk: getattr(u, name) for u in User.objects.annotate(**{name: eval(expr, {**PASTE_NAMES, "Coalesce": Coalesce})})}  # noqa: S307
    assert counts == {u.pk: Book.objects.filter(editor=u).count() for u in User.objects.all()}
    assert sorted(counts.values()) == [0, 0, 0, 1, 2, 3]
    assert len(queries) == 1
    # The rows themselves: loaded once by the key, as the cure says.
    fetch = finding_on(endpoint, "shop_book", '"shop_book"."title"')["suggestion"]
    assert "Book.objects.filter(editor__in=<the User rows>)" in fetch["code"]


def test_a_key_to_a_unique_field_with_no_reverse_accessor_compares_that_field(exporter, tmp_path):
    # Stamp.currency has to_field='code' and related_name='+': its column holds codes, so the
    # subqueries of the cures compare it with OuterRef('code'); OuterRef('pk') would match no row.
    for i, c in enumerate(Currency.objects.create(code=f"C{i}", name=f"n{i}") for i in range(ROWS)):
        for _ in range(i % 3):
            Stamp.objects.create(currency=c)

    def loop():
        for currency in Currency.objects.all():
            Stamp.objects.filter(currency=currency).exists()
            Stamp.objects.filter(currency=currency).count()

    endpoint = report_of(exporter, tmp_path, loop)
    assert "stamp_set" not in json.dumps(endpoint)
    assert endpoint["fix"].split("\n")[0] == "Currency.objects.annotate(has_stamp=Exists(Stamp.objects.filter(currency=OuterRef('code'))))"
    fixed, before, queries = reads_of(endpoint, Currency)
    assert fixed == before
    assert sorted(fixed[finding_on(endpoint, "shop_stamp", "SELECT ? AS")["sql"]].values()) == [False] * 2 + [True] * 4
    cure = finding_on(endpoint, "shop_stamp", "COUNT")["suggestion"]["code"]
    annotation = re.search(r"annotate\((\w+)=(Coalesce\(.*?, 0\))\) \(Coalesce from", cure)
    assert annotation is not None, cure
    name, expr = annotation.groups()
    counts = {c.pk: getattr(c, name) for c in Currency.objects.annotate(**{name: eval(expr, {**PASTE_NAMES, "Coalesce": Coalesce})})}  # noqa: S307
    assert counts == {c.pk: Stamp.objects.filter(currency=c).count() for c in Currency.objects.all()}
    assert sorted(counts.values()) == [0, 0, 1, 1, 2, 2]


def test_an_m2m_with_no_reverse_accessor_is_never_named_by_one(exporter, tmp_path):
    # Essay.labels has related_name='+': Tag has no essay_set to prefetch and no 'essay' to Count().
    tags = [Tag.objects.create(label=f"t{i}") for i in range(ROWS)]
    for i, b in enumerate(books()):
        Essay.objects.create(writer=b.author).labels.set(tags[: i % 4])

    def loop():
        for tag in Tag.objects.all():
            Essay.objects.filter(labels=tag).exists()
            Essay.objects.filter(labels=tag).count()
            list(Essay.objects.filter(labels=tag))

    endpoint = report_of(exporter, tmp_path, loop)
    printed = json.dumps(endpoint)
    assert "essay_set" not in printed and "Count('essay')" not in printed
    assert {(tuple(f["chain"]), f["suggestion"]["path"]) for f in endpoint["findings"]} == {(("Essay.labels",), "Essay.labels")}
    # exists(): an Exists() over the M2M field itself, pasted as printed.
    assert endpoint["fix"].split("\n")[0] == "Tag.objects.annotate(has_essay=Exists(Essay.objects.filter(labels=OuterRef('pk'))))"
    fixed, before, queries = reads_of(endpoint, Tag)
    assert fixed == before
    assert queries == 1
    names = {**PASTE_NAMES, "Coalesce": Coalesce}
    # count(): the cure's subquery over the join table, pasted with the Coalesce it names.
    cure = finding_on(endpoint, "shop_essay", "COUNT")["suggestion"]["code"]
    annotation = re.search(r"annotate\((\w+)=(Coalesce\(.*?, 0\))\) \(Coalesce from", cure)
    assert annotation is not None, cure
    name, expr = annotation.groups()
    counts = {t.pk: getattr(t, name) for t in Tag.objects.annotate(**{name: eval(expr, names)})}  # noqa: S307
    assert counts == {t.pk: Essay.objects.filter(labels=t).count() for t in Tag.objects.all()}
    assert sorted(counts.values()) == [0, 0, 0, 1, 2, 4]
    # The rows: the join table's rows with their essays, loaded once, grouped by tag as the cure says.
    cure = finding_on(endpoint, "shop_essay", '"shop_essay"."words"')["suggestion"]["code"]
    load = re.search(r"load the Essay rows once, (.+?), keep the essays of each tag_id in a dict", cure)
    assert load is not None, cure
    grouped = {}
    with CaptureQueriesContext(connection) as queries:
        for row in eval(load.group(1).replace("<the Tag rows>", "Tag.objects.all()"), names):  # noqa: S307
            grouped.setdefault(row.tag_id, []).append(row.essay.pk)
    assert {t.pk: sorted(grouped.get(t.pk, [])) for t in Tag.objects.all()} == {t.pk: sorted(e.pk for e in Essay.objects.filter(labels=t)) for t in Tag.objects.all()}
    assert len(queries) == 1


def test_a_child_read_by_a_key_of_its_multi_table_parent_is_reached_through_the_parents_relation(exporter, tmp_path):
    for i, b in enumerate(books()):
        Restaurant.objects.create(owner=b.author)
        if i % 2:
            Restaurant.objects.create(owner=b.author)
        Place.objects.create(owner=b.author)  # a place that is no restaurant
    Author.objects.create(name="no places")

    def loop():
        for author in Author.objects.all():
            list(Restaurant.objects.filter(owner=author))
            Restaurant.objects.filter(owner=author).count()
            Restaurant.objects.filter(owner=author).exists()

    # The filter is on shop_place.owner_id, joined on the child's pointer: a key Restaurant inherits,
    # not an M2M through shop_place. Author has Place's relation ('places'), and no restaurant_set.
    endpoint = report_of(exporter, tmp_path, loop)
    assert "restaurant_set" not in json.dumps(endpoint)
    assert {tuple(f["chain"]) for f in endpoint["findings"]} == {("places__restaurant",)}
    cures = {f["sql"].split(" FROM ")[0]: f["suggestion"]["code"] for f in endpoint["findings"]}
    names = dict(PASTE_NAMES)

    def restaurants(author):
        return sorted(r.pk for r in Restaurant.objects.filter(owner=author))

    # The rows: a Prefetch of Place's relation with Restaurant's queryset, read from its to_attr list.
    (rows,) = [code for head, code in cures.items() if '"shop_restaurant"."chef_id"' in head]
    prefetch = re.search(r"prefetch_related\((Prefetch\(.*\))\) and read author\.(\w+) in the loop", rows)
    assert prefetch is not None, rows
    with CaptureQueriesContext(connection) as queries:
        fixed = {a.pk: sorted(r.pk for r in getattr(a, prefetch.group(2))) for a in Author.objects.prefetch_related(eval(prefetch.group(1), names))}  # noqa: S307
    assert fixed == {a.pk: restaurants(a) for a in Author.objects.all()}
    assert sorted(len(v) for v in fixed.values()) == [0, 1, 1, 1, 2, 2, 2]
    assert len(queries) == 2
    # count() and exists(): annotations through the parent's relation, and a subquery on the inherited key.
    for head, expected in [("SELECT COUNT(*)", lambda a: len(restaurants(a))), ("SELECT ? AS", lambda a: bool(restaurants(a)))]:
        (code,) = [code for h, code in cures.items() if h.startswith(head)]
        annotation = re.search(r"annotate\((\w+)=(.*)\) and read author\.\1 in the loop", code)
        assert annotation is not None, code
        name, expr = annotation.groups()
        with CaptureQueriesContext(connection) as queries:
            fixed = {a.pk: getattr(a, name) for a in Author.objects.annotate(**{name: eval(expr, names)})}  # noqa: S307
        assert fixed == {a.pk: expected(a) for a in Author.objects.all()}
        assert len(queries) == 1


def test_a_child_by_an_inherited_key_to_a_unique_field_compares_that_field(exporter, tmp_path):
    # Savings inherits Account.currency (to_field='code'): Exists() over it compares OuterRef('code').
    for i in range(ROWS):
        c = Currency.objects.create(code=f"C{i}", name=f"n{i}")
        for _ in range(i % 3):
            Savings.objects.create(currency=c)
        Account.objects.create(currency=c)  # an account that is no savings account

    def loop():
        for currency in Currency.objects.all():
            Savings.objects.filter(currency=currency).exists()

    endpoint = report_of(exporter, tmp_path, loop)
    (finding,) = endpoint["findings"]
    annotation = re.search(r"annotate\((\w+)=(.*)\) and read currency\.\1 in the loop", finding["suggestion"]["code"])
    assert annotation is not None, finding["suggestion"]["code"]
    name, expr = annotation.groups()
    assert "OuterRef('code')" in expr
    fixed = {c.pk: getattr(c, name) for c in Currency.objects.annotate(**{name: eval(expr, dict(PASTE_NAMES))})}  # noqa: S307
    assert fixed == {c.pk: Savings.objects.filter(currency=c).exists() for c in Currency.objects.all()}
    assert sorted(fixed.values()) == [False] * 2 + [True] * 4


def test_a_generic_relation_the_schema_names_is_prefetched_and_counted_by_its_name(exporter, tmp_path):
    # Article.comments is a GenericRelation; the books' comments share the articles' object ids, so a
    # fix that matched on object_id alone, without the content type, would count them too.
    for i, b in enumerate(books()):
        article = Article.objects.create(title=b.title)
        assert article.pk == b.pk
        for _ in range(i % 3):
            Comment.objects.create(content_object=article, text="on the article")
        Comment.objects.create(content_object=b, text="on the book")

    def loop():
        for article in Article.objects.all():
            list(article.comments.all())
            article.comments.count()
            article.comments.exists()

    endpoint = report_of(exporter, tmp_path, loop)
    assert "GenericRelation(" not in json.dumps(endpoint)  # Article has one: nothing to add
    assert {tuple(f["chain"]) for f in endpoint["findings"]} == {("comments",)}
    assert endpoint["fix"].startswith("Article.objects.prefetch_related('comments').annotate(comments_count=Count('comments'), ")
    reads = [finding_on(endpoint, "shop_comment", head)["suggestion"]["readInstead"] for head in ('"shop_comment"."text"', "COUNT", "SELECT ? AS")]

    def each(rows, code):
        values = [eval(r[code], dict(PASTE_NAMES), {"article": a}) for a in rows for r in reads]  # noqa: S307
        return [sorted(c.pk for c in v) if isinstance(v, models.QuerySet) else v for v in values]

    with CaptureQueriesContext(connection) as queries:
        fixed = each(pasted(endpoint["fix"]), "read")
    assert fixed == each(Article.objects.all(), "insteadOf")
    assert [len(fixed[i]) for i in range(0, len(fixed), 3)] == [0, 1, 2, 0, 1, 2]
    assert len(queries) == 2  # the articles with their counts, and the prefetch


def test_a_key_to_a_column_besides_the_pk_is_select_related(exporter, tmp_path):
    for i in range(ROWS):
        City.objects.create(country=Country.objects.create(code=f"c{i}"))

    def loop():
        for city in City.objects.all():
            city.country.code

    # City.country has to_field='code': each row's Country is read by code, not by id.
    endpoint = report_of(exporter, tmp_path, loop)
    assert endpoint["fix"] == "City.objects.select_related('country')"
    finding = finding_on(endpoint, "shop_country")
    assert finding["chain"] == ["country"]
    assert finding["suggestion"]["readInstead"]["insteadOf"] == "Country.objects.get(code=city.country_id)"
    fixed, before, queries = reads_of(endpoint, City)
    assert fixed == before
    assert queries == 1


def test_a_model_with_no_objects_manager_is_reached_through_its_own(exporter, tmp_path):
    for i in range(ROWS):
        publisher = Publisher.objects.create(name=f"p{i}")
        for n in range(i % 3 + 1):
            Catalogue.listed.create(publisher=publisher, year=2000 + (n * 7 + i) % 5)

    def loop():
        for catalogue in Catalogue.listed.all():
            catalogue.publisher.name
        for publisher in Publisher.objects.all():
            publisher.catalogues.order_by("-year").first()

    endpoint = report_of(exporter, tmp_path, loop)
    assert "Catalogue.objects" not in json.dumps(endpoint)
    catalogues, publishers, read = endpoint["fix"].split("\n")
    assert catalogues == "Catalogue.listed.select_related('publisher')"
    assert publishers == "Publisher.objects.prefetch_related(Prefetch('catalogues', queryset=Catalogue.listed.order_by('-year'), to_attr='recent_catalogues'))"
    assert read == "# then read publisher.recent_catalogues[0] if publisher.recent_catalogues else None, not publisher.catalogues.order_by('-year').first()"
    with CaptureQueriesContext(connection) as queries:
        names = {c.pk: c.publisher.name for c in pasted(catalogues)}
        latest = {p.pk: p.recent_catalogues[0].year for p in pasted(publishers)}
    assert names == {c.pk: c.publisher.name for c in Catalogue.listed.all()}
    assert latest == {p.pk: p.catalogues.order_by("-year").first().year for p in Publisher.objects.all()}
    assert len(queries) == 3


def test_a_loop_inside_a_prefetched_generic_relation_is_fixed_in_its_prefetch(exporter, tmp_path):
    for b in books():
        Comment.objects.create(content_object=Article.objects.create(title=b.title), text="x")

    def kinds(articles):
        return {a.pk: [c.content_type.model for c in a.comments.all()] for a in articles}

    def loop():
        kinds(Article.objects.prefetch_related("comments"))

    # The comments' prefetch (object_id IN …) is no trigger of its own: the rows are the articles'.
    endpoint = report_of(exporter, tmp_path, loop)
    assert finding_on(endpoint, "django_content_type")["chain"] == ["comments", "content_type"]
    assert endpoint["fix"] == "Article.objects.prefetch_related(Prefetch('comments', queryset=Comment.objects.select_related('content_type')))"
    with CaptureQueriesContext(connection) as queries:
        fixed = kinds(pasted(endpoint["fix"]))
    assert fixed == {a.pk: ["article"] for a in Article.objects.all()}
    assert len(queries) == 2


def poems_by_author():
    for i, b in enumerate(books()):
        for _ in range(i % 3):
            Poem.objects.create(writer=b.author)


def visits_by_restaurant():
    for i, b in enumerate(books()):
        restaurant = Restaurant.objects.create(owner=b.author)
        for _ in range(i % 3):
            Visit.objects.create(place=restaurant)


def cities_by_country():
    for i in range(ROWS):
        country = Country.objects.create(code=f"c{i}")
        for _ in range(i % 3):
            City.objects.create(country=country)


def friends_by_employee():
    employees = [Employee.objects.create() for _ in range(ROWS)]
    for i, e in enumerate(employees[:3]):
        e.friends.set(employees[i + 1:i + 3])


def titles_by_publisher():
    for i, b in enumerate(books()):
        for _ in range(i % 3):
            Book.objects.create(title="more", author=b.author, publisher=b.publisher)


@pytest.mark.parametrize(
    ("make", "model", "count", "fix"),
    [
        # A key declared on an abstract base: related_name='%(class)ss', related_query_name='%(class)s_entry'.
        (poems_by_author, Author, lambda a: a.poems.count(), "Author.objects.annotate(poem_entry_count=Count('poem_entry'))"),
        # A key to a multi-table parent, counted from the child's rows.
        (visits_by_restaurant, Restaurant, lambda r: r.visit_set.count(), "Restaurant.objects.annotate(visit_count=Count('visit'))"),
        # The reverse of a key with to_field, in a table with no app prefix.
        (cities_by_country, Country, lambda c: c.city_set.count(), "Country.objects.annotate(city_count=Count('city'))"),
        # A symmetrical M2M to self (both directions in one join table).
        (friends_by_employee, Employee, lambda e: e.friends.count(), "Employee.objects.annotate(friends_count=Count('friends'))"),
        # related_name and related_query_name apart, on a key with its own db_column to a table of its own name.
        (titles_by_publisher, Publisher, lambda p: p.titles.count(), "Publisher.objects.annotate(title_count=Count('title'))"),
    ],
    ids=["abstract-base", "multi-table-parent", "to-field", "symmetrical-self-m2m", "related-query-name"],
)
def test_a_count_through_a_relation_named_apart_is_annotated_by_its_query_name(exporter, tmp_path, make, model, count, fix):
    make()

    def loop():
        for row in model.objects.all():
            count(row)

    endpoint = report_of(exporter, tmp_path, loop)
    assert endpoint["fix"].split("\n")[0] == fix
    fixed, before, queries = reads_of(endpoint, model)
    assert fixed == before
    assert len(set(next(iter(fixed.values())).values())) > 1
    assert queries == 1


def blurbs():
    """A blurb per book, by a critic who is not the book's author."""
    for b in books():
        Blurb.objects.create(book=b, critic=Author.objects.create(name=f"critic of {b.title}"))


@pytest.mark.parametrize(
    "read",
    [lambda blurb: blurb.book.author.name, lambda blurb: blurb.critic.name],
    ids=["through-the-joined-book", "own-key"],
)
def test_two_join_paths_to_one_table_are_both_loaded_never_one_guessed(exporter, tmp_path, read):
    # blurb.critic and blurb.book.author each run SELECT ... FROM shop_author WHERE id = ? per row:
    # the values that would tell them apart never reach n1lens.
    blurbs()

    def loop():
        for blurb in Blurb.objects.select_related("book"):
            read(blurb)

    endpoint = report_of(exporter, tmp_path, loop)
    finding = finding_on(endpoint, "shop_author")
    assert finding["suggestion"]["confidence"] == "inferred"
    assert "critic" in finding["suggestion"]["note"] and "book__author" in finding["suggestion"]["note"]
    with CaptureQueriesContext(connection) as queries:
        fixed = {b.pk: read(b) for b in pasted(endpoint["fix"])}
    assert fixed == {b.pk: read(b) for b in Blurb.objects.all()}
    assert len(queries) == 1


def test_a_loop_two_prefetches_deep_is_prefetched_by_the_whole_path(exporter, tmp_path):
    for i, b in enumerate(books()):
        for stars in range(i % 3):
            Review.objects.create(book=b, stars=stars)

    def stars(authors):
        return {a.pk: [sorted(r.stars for r in b.reviews.all()) for b in a.book_set.all()] for a in authors}

    def loop():
        stars(Author.objects.all())

    endpoint = report_of(exporter, tmp_path, loop)
    with CaptureQueriesContext(connection) as queries:
        fixed = stars(pasted(endpoint["fix"]))
    assert fixed == stars(Author.objects.all())
    assert len(queries) == 3, endpoint["fix"]


def test_a_forward_key_inside_a_prefetched_relation_is_joined_in_its_prefetch(exporter, tmp_path):
    books()

    def names(authors):
        return {a.pk: [b.publisher.name for b in a.book_set.all()] for a in authors}

    def loop():
        names(Author.objects.prefetch_related("book_set"))

    endpoint = report_of(exporter, tmp_path, loop)
    with CaptureQueriesContext(connection) as queries:
        fixed = names(pasted(endpoint["fix"]))
    assert fixed == names(Author.objects.all())
    assert len(queries) == 2, endpoint["fix"]


def test_a_reverse_one_to_one_past_a_forward_key_is_one_select_related_path(exporter, tmp_path):
    for i, b in enumerate(books()):
        if i % 2:
            Profile.objects.create(author=b.author, points=i)

    def points(rows):
        out = {}
        for book in rows:
            try:
                out[book.pk] = book.author.profile.points
            except Profile.DoesNotExist:
                out[book.pk] = None
        return out

    def loop():
        points(Book.objects.select_related("author"))

    endpoint = report_of(exporter, tmp_path, loop)
    assert endpoint["fix"] == "Book.objects.select_related('author__profile')"
    with CaptureQueriesContext(connection) as queries:
        fixed = points(pasted(endpoint["fix"]))
    assert fixed == points(Book.objects.all())
    assert len(queries) == 1



def test_a_model_of_an_app_labelled_apart_from_its_module_is_fixed_by_its_class_and_manager(exporter, tmp_path):
    # press.Catalogue (module printing) shares its class name with shop.Catalogue, which has no objects.
    for i in range(ROWS):
        press.Catalogue.objects.create(publisher=Publisher.objects.create(name=f"p{i}"), year=2000 + i)

    def loop():
        for catalogue in press.Catalogue.objects.all():
            catalogue.publisher.name

    endpoint = report_of(exporter, tmp_path, loop)
    assert endpoint["fix"] == "Catalogue.objects.select_related('publisher')"
    with CaptureQueriesContext(connection) as queries:
        names = {c.pk: c.publisher.name for c in eval(endpoint["fix"], {**PASTE_NAMES, "Catalogue": press.Catalogue})}  # noqa: S307
    assert names == {c.pk: c.publisher.name for c in press.Catalogue.objects.all()}
    assert len(queries) == 1



def test_a_loop_over_a_proxy_a_class_based_view_names_is_fixed_on_that_proxy(exporter, tmp_path):
    # BargainBook's manager keeps the bargains only: Book.objects… pasted into the view would list every book.
    for i, b in enumerate(books(2 * ROWS)):
        b.title = f"bargain {i}" if i % 2 == 0 else b.title
        b.save()
    node = shutil.which("node")
    if node is None or not N1_REPORT.exists():
        pytest.skip("needs node and the built n1-report (npm run build)")
    provider = trace.get_tracer_provider()
    with override_settings(ROOT_URLCONF="shop.tracing_urls"):
        assert provider.force_flush(10_000)
        exporter.clear()
        for _ in range(2):
            assert Client().get("/bargains/").status_code == 200
        assert provider.force_flush(10_000)
        traces = tmp_path / "traces.pb.gz"
        write_traces(exporter.get_finished_spans(), traces)
        schema = write_schema(tmp_path / "schema.json")
    done = subprocess.run([node, str(N1_REPORT), "--format", "json", "--schema", str(schema), str(traces)], capture_output=True, text=True, timeout=120)
    (endpoint,) = json.loads(done.stdout)["endpoints"]
    assert endpoint["fix"] == "BargainBook.objects.select_related('author')"
    with CaptureQueriesContext(connection) as queries:
        fixed = {b.pk: b.author.name for b in pasted(endpoint["fix"])}
    assert fixed == {b.pk: b.author.name for b in BargainBook.objects.all()}
    assert len(fixed) == ROWS
    assert len(queries) == 1



def test_an_m2m_filtered_on_its_through_model_keeps_the_filter_on_the_same_through_row(exporter, tmp_path):
    shelve_books()

    def loop():
        for book in Book.objects.all():
            book.shelves.filter(placement__position=0).count()
            list(book.shelves.filter(placement__position=0))

    endpoint = report_of(exporter, tmp_path, loop)
    names = dict(PASTE_NAMES)
    # count(): Q(shelves__placement__position=0) would join another placement of the shelf, any book's.
    cure = finding_on(endpoint, "shelving", "COUNT")["suggestion"]["code"]
    annotation = re.search(r"annotate\((\w+)=(.*)\) with the loop's own filter values", cure)
    assert annotation is not None, cure
    name, expr = annotation.group(1), annotation.group(2).replace("…", "0")
    counts = {b.pk: getattr(b, name) for b in Book.objects.annotate(**{name: eval(expr, names)})}  # noqa: S307
    assert counts == {b.pk: b.shelves.filter(placement__position=0).count() for b in Book.objects.all()}
    assert set(counts.values()) == {0, 1}
    # The rows: a Prefetch whose queryset filters the shelves by the same placement.
    cure = finding_on(endpoint, "shelving", '"shelving"."id" FROM')["suggestion"]["code"]
    prefetch = re.search(r"prefetch_related\((Prefetch\(.*?to_attr='(\w+)'\))\)", cure)
    assert prefetch is not None, cure
    with CaptureQueriesContext(connection) as queries:
        rows = {b.pk: sorted(s.pk for s in getattr(b, prefetch.group(2))) for b in Book.objects.prefetch_related(eval(prefetch.group(1).replace("…", "0"), names))}  # noqa: S307
    assert rows == {b.pk: sorted(s.pk for s in b.shelves.filter(placement__position=0)) for b in Book.objects.all()}
    assert len(queries) == 2


def test_exists_over_an_m2m_filtered_on_its_through_model_answers_per_row(exporter, tmp_path):
    shelve_books()

    def loop():
        for book in Book.objects.all():
            book.shelves.filter(placement__position=0).exists()

    endpoint = report_of(exporter, tmp_path, loop)
    cure = finding_on(endpoint, "shelving")["suggestion"]["code"]
    annotation = re.search(r"annotate\((\w+)=(Exists\(.*\))\)", cure)
    assert annotation is not None, cure
    name, expr = annotation.group(1), annotation.group(2).replace("…", "0")
    answers = {b.pk: getattr(b, name) for b in Book.objects.annotate(**{name: eval(expr, dict(PASTE_NAMES))})}  # noqa: S307
    assert answers == {b.pk: b.shelves.filter(placement__position=0).exists() for b in Book.objects.all()}
    assert set(answers.values()) == {True, False}
