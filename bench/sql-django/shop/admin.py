from django.contrib import admin
from .models import Author, Book, Tag, Review

@admin.register(Book)
class BookAdmin(admin.ModelAdmin):
    list_display = ['title', 'author', 'price', 'published', 'in_stock']
    search_fields = ['title', 'author__name', 'tags__label']
    list_filter = ['in_stock', 'published', 'author']
    list_select_related = ['author']
    date_hierarchy = 'published'

@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    search_fields = ['name', '=email']
    list_display = ['name', 'email']

@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    search_fields = ['body', 'book__title']
    list_filter = ['rating']
    raw_id_fields = ['book']

admin.site.register(Tag)
