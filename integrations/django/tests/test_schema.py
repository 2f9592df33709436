"""The schema command describes every relation shape exactly as DESIGN.md's schema file defines it."""

import io
import json

import pytest
from django.core.management import call_command


@pytest.fixture(scope="module")
def schema():
    out = io.StringIO()
    call_command("n1lens_schema", stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def models(schema):
    return {entry["model"]: entry for entry in schema["models"]}


def relation(models, model, name):
    matches = [r for r in models[model]["relations"] if r["name"] == name]
    assert len(matches) == 1, f"{model}.{name}: {models[model]['relations']}"
    return matches[0]


def test_writes_version_and_models_sorted_by_label(schema):
    assert schema["n1lensSchema"] == 1
    labels = [entry["model"] for entry in schema["models"]]
    assert labels == sorted(labels)
    # Django's own installed models are listed too; auto-created M2M through models are not.
    assert {"auth.User", "auth.Group", "contenttypes.ContentType"} <= set(labels)
    assert "shop.Book_tags" not in labels


def test_sorts_relations_by_name(models):
    for entry in models.values():
        names = [r["name"] for r in entry["relations"]]
        assert names == sorted(names), entry["model"]


def test_describes_a_model_with_forward_fks_reverse_fks_and_m2ms(models):
    assert models["shop.Book"] == {
        "model": "shop.Book",
        "table": "shop_book",
        "pk": "id",
        "relations": [
            {"name": "author", "queryName": "author", "kind": "many_to_one", "target": "shop.Author",
             "column": "author_id"},
            {"name": "editor", "queryName": "editor", "kind": "many_to_one", "target": "auth.User",
             "column": "editor_id"},
            {"name": "orderline_set", "queryName": "orderline", "kind": "one_to_many",
             "target": "shop.OrderLine", "remoteColumn": "book_id"},
            {"name": "placement_set", "queryName": "placement", "kind": "one_to_many",
             "target": "shop.Placement", "remoteColumn": "book_ref"},
            {"name": "publisher", "queryName": "publisher", "kind": "many_to_one",
             "target": "shop.Publisher", "column": "pub_ref"},
            {"name": "reviews", "queryName": "reviews", "kind": "one_to_many", "target": "shop.Review",
             "remoteColumn": "book_id"},
            {"name": "shelves", "queryName": "shelves", "kind": "many_to_many", "target": "shop.Shelf",
             "through": "shop_placement", "sourceColumn": "book_ref", "targetColumn": "shelf_ref"},
            {"name": "tags", "queryName": "tags", "kind": "many_to_many", "target": "shop.Tag",
             "through": "shop_book_tags", "sourceColumn": "book_id", "targetColumn": "tag_id"},
        ],
        "fields": [
            {"name": "author", "attname": "author_id"},
            {"name": "editor", "attname": "editor_id"},
            {"name": "id", "attname": "id"},
            {"name": "publisher", "attname": "publisher_id"},
            {"name": "title", "attname": "title"},
        ],
    }


def test_names_a_default_reverse_fk_by_accessor_and_query_name(models):
    assert relation(models, "shop.Author", "book_set") == {
        "name": "book_set", "queryName": "book", "kind": "one_to_many", "target": "shop.Book",
        "remoteColumn": "author_id",
    }


def test_uses_related_name_as_query_name_when_only_related_name_is_set(models):
    assert relation(models, "shop.Author", "places") == {
        "name": "places", "queryName": "places", "kind": "one_to_many", "target": "shop.Place",
        "remoteColumn": "owner_id",
    }


def test_keeps_related_name_and_related_query_name_apart(models):
    assert relation(models, "shop.Publisher", "titles") == {
        "name": "titles", "queryName": "title", "kind": "one_to_many", "target": "shop.Book",
        "remoteColumn": "pub_ref",
    }


def test_reports_custom_db_table_and_db_column(models):
    assert models["shop.Publisher"]["table"] == "publishing_house"
    assert models["shop.Shelf"]["table"] == "shelving"
    assert relation(models, "shop.Book", "publisher")["column"] == "pub_ref"


def test_names_the_default_manager_of_a_model_with_none_called_objects(models):
    assert models["shop.Catalogue"]["manager"] == "listed"
    # Magazine declares its own `objects`; Book has Django's.
    assert "manager" not in models["shop.Magazine"]
    assert "manager" not in models["shop.Book"]


def test_gives_a_key_to_a_column_besides_the_pk_that_column(models):
    # City.country has to_field='code' and db_column='country_code'; a key to the pk says nothing more.
    assert relation(models, "shop.City", "country") == {
        "name": "country", "queryName": "country", "kind": "many_to_one", "target": "shop.Country",
        "column": "country_code", "toField": "code", "toFieldColumn": "code",
    }
    assert models["shop.City"]["table"] == "cities"
    assert relation(models, "shop.Country", "city_set")["remoteColumn"] == "country_code"
    assert relation(models, "shop.Country", "city_set")["toField"] == "code"


def test_describes_one_to_one_both_ways(models):
    assert relation(models, "shop.Profile", "author") == {
        "name": "author", "queryName": "author", "kind": "one_to_one", "target": "shop.Author",
        "column": "writer_ref",
    }
    assert relation(models, "shop.Author", "profile") == {
        "name": "profile", "queryName": "profile", "kind": "one_to_one", "target": "shop.Profile",
        "remoteColumn": "writer_ref",
    }


def test_describes_an_auto_m2m_from_both_ends(models):
    assert relation(models, "shop.Tag", "book_set") == {
        "name": "book_set", "queryName": "book", "kind": "many_to_many", "target": "shop.Book",
        "through": "shop_book_tags", "sourceColumn": "tag_id", "targetColumn": "book_id",
    }


def test_describes_a_custom_through_m2m_from_both_ends(models):
    assert relation(models, "shop.Shelf", "books") == {
        "name": "books", "queryName": "books", "kind": "many_to_many", "target": "shop.Book",
        "through": "shop_placement", "sourceColumn": "shelf_ref", "targetColumn": "book_ref",
    }
    assert models["shop.Placement"] == {
        "model": "shop.Placement",
        "table": "shop_placement",
        "pk": "id",
        "relations": [
            {"name": "book", "queryName": "book", "kind": "many_to_one", "target": "shop.Book",
             "column": "book_ref"},
            {"name": "shelf", "queryName": "shelf", "kind": "many_to_one", "target": "shop.Shelf",
             "column": "shelf_ref"},
        ],
        "fields": [
            {"name": "book", "attname": "book_id"},
            {"name": "id", "attname": "id"},
            {"name": "position", "attname": "position"},
            {"name": "shelf", "attname": "shelf_id"},
        ],
    }


def test_describes_self_referential_fks_and_m2ms(models):
    assert models["shop.Employee"]["relations"] == [
        # Symmetrical: one entry, no reverse accessor.
        {"name": "friends", "queryName": "friends", "kind": "many_to_many", "target": "shop.Employee",
         "through": "shop_employee_friends", "sourceColumn": "from_employee_id",
         "targetColumn": "to_employee_id"},
        {"name": "manager", "queryName": "manager", "kind": "many_to_one", "target": "shop.Employee",
         "column": "manager_id"},
        {"name": "mentees", "queryName": "mentees", "kind": "many_to_many", "target": "shop.Employee",
         "through": "shop_employee_mentors", "sourceColumn": "to_employee_id",
         "targetColumn": "from_employee_id"},
        {"name": "mentors", "queryName": "mentors", "kind": "many_to_many", "target": "shop.Employee",
         "through": "shop_employee_mentors", "sourceColumn": "from_employee_id",
         "targetColumn": "to_employee_id"},
        {"name": "reports", "queryName": "reports", "kind": "one_to_many", "target": "shop.Employee",
         "remoteColumn": "manager_id"},
        {"name": "restaurant_set", "queryName": "restaurant", "kind": "one_to_many",
         "target": "shop.Restaurant", "remoteColumn": "chef_id"},
    ]


def test_leaves_out_reverse_relations_without_an_accessor(models):
    # Book.editor has related_name='+': User gets nothing for it (logentry_set is the admin's).
    assert [r["name"] for r in models["auth.User"]["relations"]] == [
        "groups", "logentry_set", "user_permissions",
    ]


def test_gives_a_proxy_model_its_concrete_models_table_and_relations(models):
    proxy, concrete = models["shop.RecentBook"], models["shop.Book"]
    assert proxy["table"] == "shop_book"
    assert proxy["pk"] == "id"
    assert proxy["relations"] == concrete["relations"]
    # Marked, so a table names its concrete model even where a proxy's label sorts first.
    assert proxy["proxyFor"] == "shop.Book"
    assert models["shop.BargainBook"]["proxyFor"] == "shop.Book"
    assert "proxyFor" not in concrete


def test_describes_multi_table_inheritance_through_the_parent_pointer(models):
    assert models["shop.Restaurant"] == {
        "model": "shop.Restaurant",
        "table": "shop_restaurant",
        "pk": "place_ptr_id",
        "relations": [
            {"name": "chef", "queryName": "chef", "kind": "many_to_one", "target": "shop.Employee",
             "column": "chef_id"},
            {"name": "owner", "queryName": "owner", "kind": "many_to_one", "target": "shop.Author",
             "column": "owner_id", "inheritedFrom": "shop.Place"},
            {"name": "place_ptr", "queryName": "place_ptr", "kind": "one_to_one", "target": "shop.Place",
             "column": "place_ptr_id"},
            {"name": "visit_set", "queryName": "visit", "kind": "one_to_many", "target": "shop.Visit",
             "remoteColumn": "place_id", "inheritedFrom": "shop.Place"},
        ],
        "fields": [
            {"name": "chef", "attname": "chef_id"},
            {"name": "id", "attname": "id"},
            {"name": "owner", "attname": "owner_id"},
            {"name": "place_ptr", "attname": "place_ptr_id"},
        ],
        "parents": ["shop.Place"],
    }
    assert relation(models, "shop.Place", "restaurant") == {
        "name": "restaurant", "queryName": "restaurant", "kind": "one_to_one",
        "target": "shop.Restaurant", "remoteColumn": "place_ptr_id",
    }


def test_lists_concrete_fields_by_name_and_attname_inherited_ones_too(models):
    # An annotation named like any of these raises "conflicts with a field on the model" in Django:
    # the FK's attname (publisher_id, not its db_column pub_ref) and a multi-table parent's fields too.
    names = {(f["name"], f["attname"]) for f in models["shop.Book"]["fields"]}
    assert ("publisher", "publisher_id") in names
    assert {"id", "owner"} <= {f["name"] for f in models["shop.Restaurant"]["fields"]}
    # M2Ms and reverse relations are relations, not columns of the table.
    assert "tags" not in {f["name"] for f in models["shop.Book"]["fields"]}


def test_writes_the_same_json_to_a_file_with_dash_o(tmp_path, schema):
    target = tmp_path / "schema.json"
    call_command("n1lens_schema", "-o", str(target))
    text = target.read_text(encoding="utf-8")
    assert json.loads(text) == schema
    # Deterministic bytes: a second run writes an identical file.
    call_command("n1lens_schema", "-o", str(target))
    assert target.read_text(encoding="utf-8") == text


def test_describes_a_taggit_manager_with_a_custom_through_model_as_an_m2m(models):
    # page.tags.all() joins the through table on its content_object column: prefetch_related('tags').
    assert relation(models, "shop.Article", "tags") == {
        "name": "tags",
        "queryName": "tags",
        "kind": "many_to_many",
        "target": "taggit.Tag",
        "through": "shop_articletag",
        "sourceColumn": "content_object_id",
        "targetColumn": "tag_id",
    }
    # The through model's own reverse accessor is there too, under its real name.
    assert relation(models, "shop.Article", "tagged_items")["kind"] == "one_to_many"


def test_describes_a_generic_relation_with_its_object_id_and_content_type_columns(models):
    assert relation(models, "shop.Article", "comments") == {
        "name": "comments",
        "queryName": "comments",
        "kind": "one_to_many",
        "target": "shop.Comment",
        "remoteColumn": "object_id",
        "contentTypeColumn": "content_type_id",
    }


def test_lists_generic_foreign_keys_and_multi_table_parents(models):
    assert models["shop.Comment"]["genericForeignKeys"] == [
        {"name": "content_object", "contentTypeColumn": "content_type_id", "objectIdColumn": "object_id"}
    ]
    assert "genericForeignKeys" not in models["shop.Book"]
    assert "parents" not in models["shop.Book"]
    assert "wagtailPage" not in models["shop.Book"]


def test_names_the_field_a_foreign_key_to_a_unique_field_points_at_from_both_ends(models):
    # to_field="code", whose column is iso_code: the FK's values are codes, not ids.
    assert relation(models, "shop.Invoice", "currency") == {
        "name": "currency", "queryName": "currency", "kind": "many_to_one", "target": "shop.Currency",
        "column": "currency_id", "toField": "code", "toFieldColumn": "iso_code",
    }
    assert relation(models, "shop.Currency", "invoice_set") == {
        "name": "invoice_set", "queryName": "invoice", "kind": "one_to_many", "target": "shop.Invoice",
        "remoteColumn": "currency_id", "toField": "code", "toFieldColumn": "iso_code",
    }
    # A foreign key to the primary key says nothing more.
    assert "toField" not in relation(models, "shop.Book", "author")
