from django.db import models
from django.contrib.auth.models import User

class Author(models.Model):
    name = models.CharField(max_length=100)
    email = models.EmailField(blank=True)
    def __str__(self): return self.name

class Tag(models.Model):
    label = models.CharField(max_length=50)
    def __str__(self): return self.label

class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name='books')
    tags = models.ManyToManyField(Tag, blank=True)
    price = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    published = models.DateField(null=True)
    in_stock = models.BooleanField(default=True)
    owner = models.ForeignKey(User, null=True, on_delete=models.SET_NULL)
    def __str__(self): return self.title

class Review(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name='reviews')
    rating = models.IntegerField()
    body = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
