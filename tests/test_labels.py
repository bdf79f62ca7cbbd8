"""Class names: ImageNet synonyms, ambiguity, indices, suggestions and Slim label files."""

import pytest

from gradcam.errors import UserError
from gradcam.labels import imagenet_labels, labels_for, read_label_file, resolve_class
from nets.nets_factory import NETWORKS


@pytest.fixture(scope="module")
def imagenet():
    return list(imagenet_labels())


@pytest.fixture(scope="module")
def slim1001():
    return labels_for(NETWORKS["resnet_v2_50"].label_offset, 1001)


def test_imagenet_order(imagenet):
    assert len(imagenet) == 1000
    assert imagenet[0].startswith("tench") and imagenet[281].startswith("tabby")
    assert imagenet[967] == "espresso" and imagenet[968] == "cup"


@pytest.mark.parametrize("query", ["tabby", "Tabby Cat", "  TABBY, TABBY CAT ", "281"])
def test_synonyms_and_case_resolve_to_one_class(imagenet, query):
    assert resolve_class(query, imagenet) == 281


def test_background_offset_of_1001_way_nets(slim1001):
    assert slim1001[0] == "background"
    assert resolve_class("tabby", slim1001) == 282
    assert resolve_class("espresso", slim1001) == 968


def test_other_class_counts_get_generic_names():
    names = labels_for(NETWORKS["efficientnet_lite0"].label_offset, 5)
    assert names == [f"class {i}" for i in range(5)]
    assert resolve_class("class 3", names) == 3


def test_ambiguous_name_lists_every_index(imagenet):
    with pytest.raises(UserError, match="ambiguous") as error:
        resolve_class("crane", imagenet)
    assert "134" in str(error.value) and "517" in str(error.value)


@pytest.mark.parametrize("query", ["1000", "-1", "99999"])
def test_index_out_of_range(imagenet, query):
    with pytest.raises(UserError, match=r"out of range 0\.\.999"):
        resolve_class(query, imagenet)


@pytest.mark.parametrize("query", ["--1", "\u00b2", "2.5"])
def test_malformed_numbers_are_user_errors(imagenet, query):
    with pytest.raises(UserError, match="unknown class"):
        resolve_class(query, imagenet)


def test_close_matches_are_suggested(imagenet):
    with pytest.raises(UserError, match="did you mean: .*espresso") as error:
        resolve_class("espreso", imagenet)
    assert str(error.value).count("\n") == 0


def test_nonsense_gets_no_suggestion(imagenet):
    with pytest.raises(UserError) as error:
        resolve_class("zzqqxxyy", imagenet)
    assert "unknown class 'zzqqxxyy'" in str(error.value) and "did you mean" not in str(error.value)


def test_slim_label_file(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("0:background\n1:daisy\n\n3:tulips, tulipa\n2:roses\n", encoding="utf-8")
    names = read_label_file(str(path), 4)
    assert names == ["background", "daisy", "roses", "tulips, tulipa"]
    assert resolve_class("Tulipa", names) == 3


def test_label_file_without_background(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("1:daisy\n2:dandelion\n", encoding="utf-8")
    assert read_label_file(str(path), 3) == ["background", "daisy", "dandelion"]


@pytest.mark.parametrize(
    "text,classes,message",
    [
        ("0:a\nno colon here\n", 2, r"labels.txt:2: expected 'id:name'"),
        ("0:a\n\u00b2:b\n", 2, r"labels.txt:2: expected 'id:name'"),
        ("0:a\n1:b\n5:c\n", 3, r"has ids 0\.\.1, 5; expected"),
        ("0:a\n", 5, r"has ids 0; expected"),
        ("", 3, r"has no ids; expected"),
    ],
)
def test_bad_label_files(tmp_path, text, classes, message):
    path = tmp_path / "labels.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        read_label_file(str(path), classes)


@pytest.mark.parametrize(
    "text,classes,found",
    [
        ("0:a\n1:b\n1:c\n", 3, r"0\.\.1 with 1 repeated"),  # 3 lines for 3 classes, one id twice
        ("1:a\n2:b\n2:c\n3:d\n", 4, r"1\.\.3 with 2 repeated"),
    ],
)
def test_duplicate_ids_are_refused(tmp_path, text, classes, found):
    path = tmp_path / "labels.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match=found) as error:
        read_label_file(str(path), classes)
    assert str(path) in str(error.value)


def test_n_minus_1_names_must_leave_out_background_0(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_text("0:daisy\n1:dandelion\n", encoding="utf-8")  # class 2 missing, not background
    with pytest.raises(UserError) as error:
        read_label_file(str(path), 3)
    message = str(error.value)
    assert str(path) in message and "has ids 0..1" in message
    assert "expected each of 0..2 once, or each of 1..2 once" in message
    assert "\n" not in message


def test_binary_label_file(tmp_path):
    path = tmp_path / "labels.txt"
    path.write_bytes(b"0:\xff\xfe\x00bad\n")
    with pytest.raises(UserError, match="not UTF-8"):
        read_label_file(str(path), 1)


def test_missing_label_file(tmp_path):
    with pytest.raises(UserError, match="cannot read label file"):
        read_label_file(str(tmp_path / "nope.txt"), 3)


def test_labels_of_a_model_are_a_sequence_with_its_two_look_ups(tmp_path):
    from gradcam.labels import Labels

    imagenet = Labels.for_model(None, 1001, label_offset=1)
    assert len(imagenet) == 1001 and imagenet[0] == "background"
    assert list(imagenet[1:]) == list(imagenet_labels())
    assert imagenet.class_index("tabby") == 282 and imagenet.label(282) == "tabby"
    assert Labels.for_model(None, 3) == ["class 0", "class 1", "class 2"]
    path = tmp_path / "labels.txt"
    path.write_text("1:cat\n2:dog, puppy\n")
    mine = Labels.for_model(path, 3)
    assert list(mine) == ["background", "cat", "dog, puppy"] and mine.class_index("puppy") == 2
    assert Labels.for_model(("a", "b"), 2).label(1) == "b"
    with pytest.raises(UserError, match="3 labels given for a model with 2 classes"):
        Labels.for_model(["a", "b", "c"], 2)
