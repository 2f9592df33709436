"""A DRF viewset as a team first writes it: the serializer reads each book's author and publisher."""

from rest_framework import serializers, viewsets

from dropin.library.models import Book


class BookSerializer(serializers.ModelSerializer):
    author = serializers.StringRelatedField()
    publisher = serializers.StringRelatedField()

    class Meta:
        model = Book
        fields = ["id", "title", "author", "publisher"]


class BookViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Book.objects.order_by("id")
    serializer_class = BookSerializer
    pagination_class = None
