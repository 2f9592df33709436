"""Models covering every relation shape the schema command must describe (see test_schema.py)."""

from django.conf import settings
from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100)


class Profile(models.Model):
    # One-to-one with a custom column; the reverse accessor defaults to "profile".
    author = models.OneToOneField(Author, on_delete=models.CASCADE, db_column="writer_ref")
    points = models.IntegerField(default=0)


class Publisher(models.Model):
    name = models.CharField(max_length=100)

    class Meta:
        db_table = "publishing_house"


class Tag(models.Model):
    label = models.CharField(max_length=50)


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE)
    publisher = models.ForeignKey(
        Publisher,
        on_delete=models.CASCADE,
        related_name="titles",
        related_query_name="title",
        db_column="pub_ref",
    )
    # related_name='+' has no reverse accessor, so User gets no relation for it.
    editor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    tags = models.ManyToManyField(Tag)


class RecentBook(Book):
    class Meta:
        proxy = True


class BargainManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(title__startswith="bargain")


class BargainBook(Book):
    # A proxy whose label sorts before Book's, with a manager that keeps some books only.
    objects = BargainManager()

    class Meta:
        proxy = True


class Review(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="reviews")
    stars = models.IntegerField()


class OrderLine(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE)
    quantity = models.IntegerField()


class Ticket(models.Model):
    # Two foreign keys to one model: `t.assignee` and `t.created_by` run the same SQL per row.
    created_by = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="created_tickets")
    assignee = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="assigned_tickets")


class Shelf(models.Model):
    books = models.ManyToManyField(Book, through="Placement", related_name="shelves")

    class Meta:
        db_table = "shelving"


class Placement(models.Model):
    shelf = models.ForeignKey(Shelf, on_delete=models.CASCADE, db_column="shelf_ref")
    book = models.ForeignKey(Book, on_delete=models.CASCADE, db_column="book_ref")
    position = models.IntegerField()


class Employee(models.Model):
    manager = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, related_name="reports")
    # Symmetrical self-M2M: no reverse accessor. Asymmetrical: reverse is "mentees".
    friends = models.ManyToManyField("self")
    mentors = models.ManyToManyField("self", symmetrical=False, related_name="mentees")


class Place(models.Model):
    owner = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="places")


class Restaurant(Place):
    chef = models.ForeignKey(Employee, on_delete=models.SET_NULL, null=True)


class Forum(models.Model):
    # A denormalised count, as apps keep one: annotate(posts_count=...) conflicts with it.
    posts_count = models.IntegerField(default=0)


class Post(models.Model):
    forum = models.ForeignKey(Forum, on_delete=models.CASCADE, related_name="posts")


class Board(models.Model):
    # A count read through a property: annotate(topics_count=...) cannot be set on it.
    @property
    def topics_count(self):
        return self.topics.count()


class Topic(models.Model):
    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="topics")


class Club(models.Model):
    # A custom through model with Django's default column names, so conventions alone link it.
    members = models.ManyToManyField(Author, through="Membership", related_name="clubs")


class Membership(models.Model):
    club = models.ForeignKey(Club, on_delete=models.CASCADE)
    author = models.ForeignKey(Author, on_delete=models.CASCADE)


# Generic relations and a taggit manager with a custom through model (issue 17: prefetch names).
from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation  # noqa: E402
from django.contrib.contenttypes.models import ContentType  # noqa: E402
from taggit.managers import TaggableManager  # noqa: E402
from taggit.models import TaggedItemBase  # noqa: E402


class Comment(models.Model):
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveIntegerField()
    content_object = GenericForeignKey("content_type", "object_id")
    text = models.TextField()


class ArticleTag(TaggedItemBase):
    content_object = models.ForeignKey("Article", on_delete=models.CASCADE, related_name="tagged_items")


class Article(models.Model):
    title = models.CharField(max_length=100)
    comments = GenericRelation(Comment)
    tags = TaggableManager(through=ArticleTag)



# A related model's manager that joins: Meta.base_manager_name puts it behind issue.magazine too.
class PublisherJoined(models.Manager):
    def get_queryset(self):
        return super().get_queryset().select_related("publisher")


class Magazine(models.Model):
    publisher = models.ForeignKey(Publisher, on_delete=models.CASCADE)
    objects = PublisherJoined()

    class Meta:
        base_manager_name = "objects"


class Issue(models.Model):
    magazine = models.ForeignKey(Magazine, on_delete=models.CASCADE)
    number = models.IntegerField(default=0)


class Country(models.Model):
    code = models.CharField(max_length=2, unique=True)


class City(models.Model):
    # A key to Country.code, not its pk, in a column named apart, in a table with no app prefix.
    country = models.ForeignKey(Country, on_delete=models.CASCADE, to_field="code", db_column="country_code")

    class Meta:
        db_table = "cities"


class Catalogue(models.Model):
    # Its one manager is not called objects: Catalogue.objects does not exist.
    publisher = models.ForeignKey(Publisher, on_delete=models.CASCADE, related_name="catalogues")
    year = models.IntegerField()
    listed = models.Manager()


class Authored(models.Model):
    # Declared on an abstract base: each child gets its own reverse names (Author.essays, essay_entry).
    writer = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="%(class)ss", related_query_name="%(class)s_entry")

    class Meta:
        abstract = True


class Essay(Authored):
    words = models.IntegerField(default=0)
    # An M2M with no reverse accessor: Tag has no essay_set.
    labels = models.ManyToManyField(Tag, related_name="+")


class Poem(Authored):
    lines = models.IntegerField(default=0)


class Visit(models.Model):
    # A key to a multi-table parent: Restaurant rows reach it through Place.
    place = models.ForeignKey(Place, on_delete=models.CASCADE)


class Currency(models.Model):
    # A unique field with a column of its own name: what a to_field foreign key points at.
    code = models.CharField(max_length=3, unique=True, db_column="iso_code")
    name = models.CharField(max_length=50)


class Invoice(models.Model):
    # A foreign key to a unique field that is not the primary key: its column holds the code.
    currency = models.ForeignKey(Currency, on_delete=models.CASCADE, to_field="code")
    total = models.IntegerField(default=0)


class Stamp(models.Model):
    # A key to a unique field with no reverse accessor: Currency has no stamp_set and no 'stamp' to count.
    currency = models.ForeignKey(Currency, on_delete=models.CASCADE, to_field="code", related_name="+")


class Account(models.Model):
    currency = models.ForeignKey(Currency, on_delete=models.CASCADE, to_field="code", related_name="accounts")


class Savings(Account):
    # A multi-table child: a key to Currency.code it inherits from Account.
    rate = models.IntegerField(default=0)


class Blurb(models.Model):
    # Two join paths from one row to Author: blurb.critic, and blurb.book.author through the book a
    # select_related('book') joins. Each runs the same query per row.
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="+")
    critic = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="blurbs")
