"""The changelist as a team first writes it: a nullable FK and a per-row count in list_display."""

from django.contrib import admin

from dropin.library.models import Book


@admin.register(Book)
class BookAdmin(admin.ModelAdmin):
    list_display = ("title", "author", "publisher", "review_count")
    list_per_page = 40

    @admin.display(description="Reviews")
    def review_count(self, obj):
        return obj.reviews.count()
