"""An admin changelist whose `editor` column (a nullable FK, which the changelist's automatic
select_related() skips) runs one query per row."""

from django.contrib import admin

from shop.models import Book


@admin.register(Book)
class BookAdmin(admin.ModelAdmin):
    list_display = ("title", "publisher", "editor", "tag_count")

    @admin.display(description="tags")
    def tag_count(self, book):
        return book.tags.count()
